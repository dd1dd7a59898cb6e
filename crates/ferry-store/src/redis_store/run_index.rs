//! Listing workflow runs on Redis (see [`crate::run_index`]): the
//! partitions' index members merged newest first, each run read as
//! [`RedisStore::load_workflow_run`] reads it, stale members pruned by one
//! script per partition.

use std::collections::BTreeMap;

use ferry_core::ids::{Partition, TenantId};

use super::RedisStore;
use crate::run_index::{PageBuilder, RunPage, RunQuery, SCAN_LIMIT, index_member, parse_member};
use crate::workflows::{WorkflowRun, run_partition};
use crate::{Result, scripts};

impl RedisStore {
    pub(super) async fn list_workflow_runs(
        &self,
        tenant: &TenantId,
        query: &RunQuery,
    ) -> Result<RunPage> {
        let mut builder = PageBuilder::new(query);
        if let Some(run_id) = &query.filter.run_id {
            // One run at most: read it, no index needed.
            if let Some(run) = self.load_workflow_run(tenant, run_id).await? {
                let member = index_member(run.created_at, run_id);
                if query.cursor.as_ref().is_none_or(|c| member < *c) {
                    builder.push(member, Some(run));
                }
            }
            return Ok(builder.finish(false));
        }
        let (members, unseen) = self.index_members(tenant, query.cursor.as_deref()).await?;
        let mut stale: BTreeMap<u16, Vec<String>> = BTreeMap::new();
        let mut pushed = 0;
        for (p, member) in &members {
            let run = self.indexed_run(tenant, member).await?;
            if run.is_none() {
                stale.entry(*p).or_default().push(member.clone());
            }
            if !builder.push(member.clone(), run) {
                break;
            }
            pushed += 1;
        }
        for (p, members) in stale {
            self.prune_run_index(Partition(p), tenant, &members).await?;
        }
        Ok(builder.finish(unseen || pushed < members.len()))
    }

    /// The members after `cursor` of every partition's index, newest first,
    /// as many as one page may look at; and whether more are left unread.
    async fn index_members(
        &self,
        tenant: &TenantId,
        cursor: Option<&str>,
    ) -> Result<(Vec<(u16, String)>, bool)> {
        // A partition that has more than a page may look at still orders
        // the first SCAN_LIMIT members of the merge correctly.
        let fetch = SCAN_LIMIT + 1;
        let max = cursor.map_or_else(|| "+".to_owned(), |c| format!("({c}"));
        let mut merged = Vec::new();
        let mut unseen = false;
        for p in 0..self.cfg.partitions {
            let members: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
                .arg(self.keys.workflow_index(Partition(p), tenant))
                .arg(&max)
                .arg("-")
                .arg("LIMIT")
                .arg(0)
                .arg(fetch)
                .query_async(&mut self.conn())
                .await?;
            unseen |= members.len() == fetch;
            merged.extend(members.into_iter().map(|m| (p, m)));
        }
        merged.sort_by(|a, b| b.1.cmp(&a.1));
        Ok((merged, unseen))
    }

    /// The run an index member names, unless the member is stale.
    async fn indexed_run(&self, tenant: &TenantId, member: &str) -> Result<Option<WorkflowRun>> {
        let Some((created_at, run_id)) = parse_member(member) else {
            return Ok(None);
        };
        Ok(self
            .load_workflow_run(tenant, run_id)
            .await?
            .filter(|run| run.created_at == created_at))
    }

    async fn prune_run_index(
        &self,
        p: Partition,
        tenant: &TenantId,
        members: &[String],
    ) -> Result<()> {
        let mut invocation = scripts::RUN_INDEX_PRUNE.prepare_invoke();
        invocation.key(self.keys.workflow_index(p, tenant));
        for member in members {
            // A member too malformed to name a run is removed with a key
            // that holds no run.
            let run_id = parse_member(member).map_or("", |(_, id)| id);
            debug_assert!(
                run_id.is_empty() || run_partition(tenant, run_id, self.cfg.partitions) == p
            );
            invocation
                .key(self.keys.workflow_run(p, tenant, run_id))
                .arg(member);
        }
        let _removed: u64 = invocation.invoke_async(&mut self.conn()).await?;
        Ok(())
    }
}
