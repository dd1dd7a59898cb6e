//! Listing workflow runs in memory: the twin of the Redis run index (see
//! [`crate::run_index`]). The runs map is the index; expired runs are
//! forgotten first, as Redis forgets them.

use ferry_core::ids::TenantId;

use super::State;
use crate::run_index::{PageBuilder, RunPage, RunQuery, index_member};

impl State {
    pub(in crate::memory) fn workflow_runs(
        &mut self,
        tenant: &TenantId,
        query: &RunQuery,
        now_ms: u64,
    ) -> RunPage {
        self.workflows.retain(|_, run| !run.expired(now_ms));
        let mut members: Vec<(String, &str)> = self
            .workflows
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, id), run)| (index_member(run.created_at, id), id.as_str()))
            .filter(|(member, _)| query.cursor.as_ref().is_none_or(|c| member < c))
            .collect();
        members.sort_by(|a, b| b.0.cmp(&a.0));
        let mut builder = PageBuilder::new(query);
        let mut left = members.into_iter();
        for (member, run_id) in left.by_ref() {
            let run = self
                .workflows
                .get(&(tenant.clone(), run_id.to_owned()))
                .map(|run| run.view(tenant, run_id));
            if !builder.push(member, run) {
                break;
            }
        }
        builder.finish(left.next().is_some())
    }
}
