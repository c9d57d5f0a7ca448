import { createRouter } from '../router';
import * as handlers from './admin.handlers';
import * as routes from './admin.routes';

/** The operator's admin API (`/admin/v1`); its auth, rate limit and body cap are set where it is mounted. */
export const adminRoutes = createRouter()
  .openapi(routes.listTenants, handlers.listTenantsHandler)
  .openapi(routes.getTenant, handlers.getTenantHandler)
  .openapi(routes.putTenant, handlers.putTenantHandler)
  .openapi(routes.patchTenant, handlers.patchTenantHandler)
  .openapi(routes.deleteTenant, handlers.deleteTenantHandler)
  .openapi(routes.blockUser, handlers.blockUserHandler)
  .openapi(routes.unblockUser, handlers.unblockUserHandler)
  .openapi(routes.deleteUserThreads, handlers.deleteUserThreadsHandler)
  .openapi(routes.listBlocks, handlers.listBlocksHandler)
  .openapi(routes.usage, handlers.usageHandler)
  .openapi(routes.account, handlers.accountHandler)
  .openapi(routes.audit, handlers.auditHandler);
