//! Placement on Redis (see [`crate::placement`]): the partition of a
//! tenant's queue or flow-control key comes from the tenant's index of
//! them, and a new one goes to the tenant's home, which is recorded under
//! the tenant's tag the first time it is needed.

use ferry_core::ids::{Partition, TenantId};
use redis::AsyncCommands;

use super::RedisStore;
use crate::placement::home_partition;
use crate::{Result, scripts};

impl RedisStore {
    /// The partition holding the tenant's queue or key `name`, as recorded in
    /// `index`, or the tenant's home for a new one.
    pub(super) async fn placed(
        &self,
        index: &str,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Partition> {
        let p: Option<u16> = self.conn().hget(index, name).await?;
        match p {
            Some(p) => Ok(Partition(p)),
            None => self.tenant_home(tenant).await,
        }
    }

    async fn tenant_home(&self, tenant: &TenantId) -> Result<Partition> {
        let partitions = self.cfg.partitions;
        let home: u16 = scripts::HOME
            .key(self.keys.home(tenant))
            .arg(home_partition(tenant, partitions).0)
            .arg(partitions)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(Partition(home))
    }
}
