import { listAssistants as list } from '../../services/assistants';
import { requestContext } from '../context';
import { admitted } from '../define';
import * as routes from './assistants.routes';

export const listAssistants = admitted(routes.listAssistants, async (c) =>
  c.json({ assistants: await list(requestContext(c)) }, 200),
);
