-- Which incarnation of a tenant id is in force (README, Operator's guide: "Deleting and
-- creating again"). Every per-tenant Durable Object is named by the tenant's scope,
-- `<id>` for epoch 0 and `<id>.<epoch>` after (src/tenant.ts `scopeOf`); a PUT that creates
-- a deleted id again adds 1, so the new tenant starts with empty objects and the former
-- one's threads, blocks, budgets and deliveries are out of its reach. Existing rows get
-- 0: the names their objects already have, so they keep their data.
ALTER TABLE tenants ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
