//! The Lua scripts, each prefixed by the shared helpers in `lua/lib.lua`.
//! `redis::Script` sends EVALSHA and loads the script on NOSCRIPT, so a Redis
//! restart or `SCRIPT FLUSH` is handled transparently.

use std::sync::LazyLock;

use redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(crate) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                include_str!("lua/lib.lua"),
                "\n",
                include_str!(concat!("lua/", $file))
            ))
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
script!(HOME, "home.lua");
