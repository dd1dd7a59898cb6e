//! Tests for `TestRedis`: it must really start, really lose or keep data on a
//! kill depending on its persistence, and leave nothing behind when dropped.

use super::*;
use ::redis::AsyncCommands;

#[tokio::test]
async fn start_answers_ping_at_its_url() {
    let redis = TestRedis::start().await;
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}/", redis.port()));
    let mut conn = redis.conn().await;
    let pong: String = ::redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn aof_server_keeps_acknowledged_key_across_kill_and_restart() {
    check_key_after_kill_and_restart(TestRedis::start_with_aof().await, Some("kept")).await;
}

#[tokio::test]
async fn server_without_persistence_loses_key_on_kill() {
    check_key_after_kill_and_restart(TestRedis::start().await, None).await;
}

async fn check_key_after_kill_and_restart(mut redis: TestRedis, expected: Option<&str>) {
    let port = redis.port();
    let mut conn = redis.conn().await;
    conn.set::<_, _, ()>("key", "kept").await.unwrap();

    redis.kill().await;
    assert!(
        ping(port).await.is_err(),
        "killed redis still answers on {port}"
    );
    redis.restart().await;

    assert_eq!(redis.port(), port);
    let value: Option<String> = redis.conn().await.get("key").await.unwrap();
    assert_eq!(value.as_deref(), expected);
}

#[tokio::test]
async fn restart_of_running_server_replaces_the_process() {
    let mut redis = TestRedis::start().await;
    let first_pid = redis.child.as_ref().map(Child::id);
    redis.restart().await;
    let second_pid = redis.child.as_ref().map(Child::id);
    assert!(second_pid.is_some());
    assert_ne!(first_pid, second_pid);
    let mut conn = redis.conn().await;
    let pong: String = ::redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");
}

#[tokio::test]
async fn flushall_deletes_every_key() {
    let redis = TestRedis::start().await;
    let mut conn = redis.conn().await;
    conn.set::<_, _, ()>("a", 1).await.unwrap();
    conn.set::<_, _, ()>("b", 2).await.unwrap();

    redis.flushall().await;

    let n_keys: usize = ::redis::cmd("DBSIZE").query_async(&mut conn).await.unwrap();
    assert_eq!(n_keys, 0);
}

#[tokio::test]
async fn drop_frees_the_port_and_removes_the_directory() {
    let redis = TestRedis::start_with_aof().await;
    let (port, dir) = (redis.port(), redis.dir.clone());
    assert!(dir.join(LOG_FILE).exists());

    drop(redis);

    assert!(
        ping(port).await.is_err(),
        "dropped redis still answers on {port}"
    );
    let rebound = TcpListener::bind((Ipv4Addr::LOCALHOST, port));
    assert!(
        rebound.is_ok(),
        "port {port} still taken after drop: {rebound:?}"
    );
    assert!(!dir.exists(), "{} survived drop", dir.display());
}

#[test]
fn unique_prefix_is_fresh_and_well_formed() {
    let (first, second) = (unique_prefix(), unique_prefix());
    assert_ne!(first, second);
    let suffix = first.strip_prefix("ferry-test-").unwrap();
    assert_eq!(suffix.len(), 32);
    assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()), "{first}");
}

#[test]
fn tail_keeps_the_last_characters() {
    fn check(text: &str, max_chars: usize, expected: &str) {
        assert_eq!(
            tail(text, max_chars),
            expected,
            "tail({text:?}, {max_chars})"
        );
    }
    check("abcdef", 3, "def");
    check("ab", 3, "ab");
    check("ab", 0, "");
    check("", 2, "");
    check("héllo wörld", 5, "wörld");
}
