import { usageReport } from '../../services/usage';
import { requestContext } from '../context';
import { admitted } from '../define';
import * as routes from './usage.routes';

/** What the caller may still do. No upstream call. */
export const usage = admitted(routes.usage, async (c, grant) =>
  c.json(usageReport(requestContext(c), grant.usage, grant.rate), 200),
);
