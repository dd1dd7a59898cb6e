//! The Lua scripts, each prefixed by the shared helpers in `lua/lib.lua`.
//! `redis::Script` sends EVALSHA and loads the script on NOSCRIPT, so a Redis
//! restart or `SCRIPT FLUSH` is handled transparently.
//!
//! Each script records its name under its hash when first used, so the
//! command-latency metrics can say which script an `EVALSHA` ran.

use std::collections::HashMap;
use std::sync::{LazyLock, PoisonError, RwLock};

use redis::Script;

/// Script names by hash, filled as scripts are first used.
static NAMES: LazyLock<RwLock<HashMap<String, &'static str>>> = LazyLock::new(RwLock::default);

/// Builds a script and records its name.
fn named(name: &'static str, source: &str) -> Script {
    let script = Script::new(source);
    NAMES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(script.get_hash().to_owned(), name);
    script
}

/// The name of the script with this hash (lower case, as its file is
/// named), if this process has used it.
pub(crate) fn name_of(hash: &str) -> Option<&'static str> {
    NAMES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(hash)
        .copied()
}

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            named(
                $file.trim_end_matches(".lua"),
                concat!(
                    include_str!("lua/lib.lua"),
                    "\n",
                    include_str!(concat!("lua/", $file))
                ),
            )
        });
    };
}

script!(PUBLISH, "publish.lua");
script!(PROMOTE, "promote.lua");
script!(DELIVERED, "delivered.lua");
script!(OUTCOME, "outcome.lua");
script!(CANCEL, "cancel.lua");
script!(DLQ_DELETE, "dlq_delete.lua");
script!(DLQ_RETRY, "dlq_retry.lua");
script!(KEYS_ENSURE, "keys_ensure.lua");
script!(KEYS_ROTATE, "keys_rotate.lua");
script!(GROUP_UPSERT, "group_upsert.lua");
script!(GROUP_REMOVE, "group_remove.lua");
script!(GROUP_DELETE, "group_delete.lua");
script!(SCHEDULE_UPSERT, "schedule_upsert.lua");
script!(SCHEDULE_DELETE, "schedule_delete.lua");
script!(SCHEDULE_PAUSE, "schedule_pause.lua");
script!(SCHEDULE_FIRE, "schedule_fire.lua");
script!(ENQUEUE, "enqueue.lua");
script!(QUEUE_UPSERT, "queue_upsert.lua");
script!(QUEUE_PAUSE, "queue_pause.lua");
script!(QUEUE_DELETE, "queue_delete.lua");
script!(FLOW_PUBLISH, "flow_publish.lua");
script!(FLOW_WAIT, "flow_wait.lua");
script!(FLOW_DISCARD, "flow_discard.lua");
script!(FLOW_WAKE, "flow_wake.lua");
script!(FLOW_CHANGE, "flow_change.lua");
script!(RECLAIM, "reclaim.lua");
script!(HOME, "home.lua");
script!(WORKFLOW_PUBLISH, "workflow_publish.lua");
script!(WORKFLOW_END, "workflow_end.lua");
script!(WORKFLOW_WAIT, "workflow_wait.lua");
script!(WORKFLOW_RESOLVE, "workflow_resolve.lua");
script!(WORKFLOW_TIMEOUT, "workflow_timeout.lua");
script!(WORKFLOW_EVENT, "workflow_event.lua");
script!(RUN_INDEX_PRUNE, "run_index_prune.lua");
