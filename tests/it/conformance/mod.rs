//! One conformance suite for both backends of `Store`: every case is written
//! once, generic over a [`backend::Backend`], and runs against the
//! in-process `MemoryStore`, against `RedisStore` on a `redis-server`
//! that the test starts itself (the harness's `TestRedis`), and against
//! `RedisStore` on a private three-primary Redis Cluster (`TestCluster`). Agreement between the two is what lets
//! `ferry dev` stand in for a real deployment.

mod admission;
mod backend;
mod backlog;
mod bulk_cancel;
mod dead_letters;
mod delivery;
mod events;
mod fixture;
mod flows;
mod groups;
mod ownership;
mod queue_flows;
mod queues;
mod quotas;
mod run_index;
mod schedules;
mod signing_keys;
mod tenancy;
mod waiters;
mod workflow_invoke;
mod workflows;

/// Declares each case once per backend: `memory::<case>`, `redis::<case>`
/// and `cluster::<case>`.
macro_rules! conformance {
    ($($group:ident :: $case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    crate::conformance::$group::$case(&crate::conformance::backend::Memory).await;
                }
            )*
        }

        mod redis {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = crate::conformance::backend::Redis::start().await;
                    crate::conformance::$group::$case(&backend).await;
                }
            )*
        }

        mod cluster {
            $(
                #[tokio::test]
                async fn $case() {
                    let backend = crate::conformance::backend::Cluster::start().await;
                    crate::conformance::$group::$case(&backend).await;
                }
            )*
        }
    };
}

conformance!(
    backlog::backlog_counts_shared_places_and_each_tenants_own,
    backlog::pending_list_shows_matches_and_changes_nothing,
    delivery::published_message_is_read_then_delivered,
    delivery::delivered_batch_acknowledges_each_pending_entry_once,
    delivery::delayed_message_is_ready_only_once_promoted,
    delivery::retry_keeps_the_response_and_schedules_the_next_attempt,
    delivery::deferred_message_returns_unchanged_when_due,
    delivery::outcome_creates_its_callback_messages,
    delivery::partitions_are_read_separately,
    delivery::blocked_read_wakes_on_publish_and_on_promotion,
    admission::duplicate_publish_returns_the_first_id,
    admission::dedup_key_expires_after_the_window,
    admission::backlog_bound_refuses_messages_until_one_leaves,
    ownership::a_dead_deliverers_entries_are_taken_over,
    ownership::a_live_deliverer_keeps_its_entries_however_long,
    ownership::an_expired_lease_is_never_renewed_and_records_nothing,
    ownership::a_released_lease_frees_its_entries_at_once,
    ownership::reclaim_takes_at_most_count_oldest_first,
    ownership::lost_entries_of_a_live_deliverer_are_found_again,
    ownership::cancel_forgets_pending_messages_only,
    ownership::outcome_of_a_cancelled_message_is_gone,
    ownership::discarded_entry_is_no_longer_pending,
    dead_letters::dead_outcome_moves_the_message_to_the_dlq,
    dead_letters::dlq_delete_removes_a_dead_letter_once,
    dead_letters::dlq_retry_replaces_the_dead_letter_with_its_body,
    dead_letters::dlq_pages_merge_partitions_in_both_orders,
    dead_letters::dead_letters_expire_after_retention,
    events::the_event_log_records_every_transition,
    events::log_lines_older_than_the_age_are_dropped,
    groups::url_groups_upsert_remove_and_vanish_when_empty,
    tenancy::tenants_cannot_reach_each_others_messages,
    signing_keys::signing_keys_are_stored_once_and_rotated,
    schedules::schedules_are_stored_paused_and_listed_per_tenant,
    schedules::a_tick_fires_once_and_creates_its_message,
    schedules::ticks_of_queue_and_flow_schedules_wait_their_turn,
    schedules::a_tick_to_a_url_group_creates_one_message_per_endpoint,
    queues::queue_admits_in_fifo_order_across_retry_and_finish,
    queues::parallelism_bounds_the_messages_in_flight,
    queues::paused_queue_accepts_and_admits_on_resume,
    queues::cancel_and_delete_take_messages_out_of_the_queue,
    queues::queues_are_listed_per_tenant_by_name,
    queues::a_retried_dead_letter_waits_in_its_queue,
    queues::the_next_message_waits_for_the_final_callbacks,
    flows::parallelism_bounds_the_attempts_in_flight,
    flows::rate_admits_per_window_and_wakes_when_it_reopens,
    flows::pause_pin_and_reset_steer_a_key,
    flows::cancel_leaves_the_list_and_discard_frees_the_slot,
    flows::bulk_cancel_by_key_reaches_waiting_and_admitted_messages,
    bulk_cancel::bulk_cancel_reaches_every_place_a_message_waits,
    bulk_cancel::bulk_cancel_ands_filters_and_ors_their_values,
    bulk_cancel::bulk_cancel_pages_through_long_places_in_one_call,
    queue_flows::a_tenants_queues_and_flow_keys_share_its_home,
    queue_flows::a_queue_message_with_a_flow_key_waits_for_its_turn_then_for_room,
    queue_flows::a_tick_of_a_queue_with_a_flow_key_takes_both,
    events::a_time_cursor_pages_from_that_time,
    schedules::a_tick_to_a_url_group_with_a_queue_enqueues_each_endpoint,
    workflows::a_run_is_created_once_and_each_step_gets_its_prefix,
    workflows::an_ended_run_refuses_steps_and_ends_once,
    workflows::cancel_takes_the_runs_pending_steps,
    workflows::the_step_list_is_bounded,
    workflows::taken_over_and_recovered_steps_carry_their_prefix,
    waiters::a_notify_answers_a_wait_once_and_takes_its_timeout,
    waiters::a_timeout_answers_a_wait_nobody_notified,
    waiters::a_timeout_after_a_notify_is_skipped,
    waiters::a_lookback_event_waits_for_its_wait,
    waiters::a_runs_end_takes_its_waiters,
    waiters::a_waits_timeout_counts_in_its_tenants_backlog,
    workflow_invoke::an_invoked_run_tells_its_invoker_once,
    workflow_invoke::an_ended_invoker_drops_the_result,
    workflow_invoke::telling_twice_stores_the_result_once,
    workflow_invoke::an_interrupted_end_is_completed_once_by_its_retry,
    workflow_invoke::a_stale_generation_does_not_end_a_new_run,
    run_index::runs_are_listed_newest_first_by_cursor,
    groups::a_group_holds_at_most_its_bound_of_endpoints,
    quotas::one_tenants_full_quota_leaves_the_others_room,
    quotas::waiting_in_a_paused_queue_or_under_a_flow_key_counts,
    quotas::counts_go_down_on_delivery_dead_letter_and_cancel,
    quotas::a_batch_of_deliveries_releases_each_tenants_count,
);
