use std::net::SocketAddr;
use std::time::Duration;

use ferry_core::publish::Limits;
use ferry_deliver::DeliverConfig;
use ferry_gateway::{GatewayConfig, Tokens};
use figment::Figment;
use figment::providers::{Format as _, Toml};
use figment::value::{Dict, Value};

use crate::config::{
    Config, DEFAULTS, LogFormat, dev, env, generate_token, load, load_layers, token,
};

const TOKEN: &str = "ferry_unit-test-token";

/// The smallest file that loads: one tenant with one token.
const ONE_TENANT: &str = r#"
[[tenants]]
name = "acme"
tokens = ["ferry_unit-test-token"]
"#;

const KEY_A: &str = "sig_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "sig_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn try_load(file: &str, env: &[(&str, &str)]) -> anyhow::Result<Config> {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    load_layers(Some(Toml::string(file)), &env)
}

fn loaded(file: &str, env: &[(&str, &str)]) -> Config {
    try_load(file, env).unwrap_or_else(|e| panic!("configuration should load: {e:#}"))
}

/// The full message of an error that loading must produce.
fn error_message(file: &str, env: &[(&str, &str)]) -> String {
    match try_load(file, env) {
        Ok(config) => panic!("expected an error, loaded {config:?}"),
        Err(e) => format!("{e:#}"),
    }
}

/// Loading fails, and the message contains every one of `expected`.
fn check_error(file: &str, env: &[(&str, &str)], expected: &[&str]) {
    let message = error_message(file, env);
    for part in expected {
        assert!(
            message.contains(part),
            "{message:?} should contain {part:?}"
        );
    }
}

/// Loading fails, and the message does not contain `secret`.
fn check_error_hides(file: &str, env: &[(&str, &str)], secret: &str) {
    let message = error_message(file, env);
    assert!(!message.contains(secret), "{message:?} reveals {secret:?}");
}

fn tenant_with(extra: &str) -> String {
    format!("[[tenants]]\nname = \"acme\"\n{extra}\n")
}

#[test]
fn defaults_agree_with_the_crates_defaults() {
    let config = loaded(ONE_TENANT, &[]);
    assert_eq!(
        format!("{:?}", config.deliver),
        format!("{:?}", DeliverConfig::default())
    );
    assert_eq!(
        format!("{:?}", config.gateway.limits),
        format!("{:?}", Limits::default())
    );
    let gateway = GatewayConfig::default();
    let ours = &config.gateway;
    assert_eq!(
        (ours.max_body_bytes, ours.max_headers, ours.max_header_bytes),
        (
            gateway.max_body_bytes,
            gateway.max_headers,
            gateway.max_header_bytes
        )
    );
    assert_eq!(
        (
            ours.header_read_timeout,
            ours.request_timeout,
            ours.shutdown_grace
        ),
        (
            gateway.header_read_timeout,
            gateway.request_timeout,
            gateway.shutdown_grace
        )
    );
    assert_eq!(
        ours.max_concurrent_requests,
        gateway.max_concurrent_requests
    );
    assert_eq!(
        (
            ours.idle_timeout,
            ours.max_connections,
            ours.max_batch_bytes
        ),
        (
            gateway.idle_timeout,
            gateway.max_connections,
            gateway.max_batch_bytes
        )
    );
    assert_eq!(ours.metrics_listen.is_none(), gateway.metrics_on_api);
}

#[test]
fn metrics_get_their_own_listener_only_when_configured() {
    assert_eq!(loaded(ONE_TENANT, &[]).gateway.metrics_listen, None);
    let own = loaded(
        ONE_TENANT,
        &[("FERRY_GATEWAY__METRICS_LISTEN", "127.0.0.1:9090")],
    );
    assert_eq!(
        own.gateway.metrics_listen,
        Some(SocketAddr::from(([127, 0, 0, 1], 9090)))
    );
    check_error(
        ONE_TENANT,
        &[("FERRY_GATEWAY__METRICS_LISTEN", "9090")],
        &["gateway.metrics_listen: invalid address \"9090\""],
    );
}

#[test]
fn defaults_have_the_documented_values() {
    let config = loaded(ONE_TENANT, &[]);
    assert_eq!(config.redis.url, "redis://127.0.0.1:6379");
    assert_eq!(config.redis.prefix, "ferry");
    assert_eq!(config.redis.partitions, 1);
    assert_eq!(config.redis.command_timeout, Duration::from_secs(5));
    assert!(config.redis.cluster_nodes.is_empty());
    assert_eq!(config.redis.wait_replicas, 0);
    assert_eq!(config.redis.wait_timeout, Duration::from_secs(1));
    assert_eq!(
        config.gateway.listen,
        SocketAddr::from(([127, 0, 0, 1], 8080))
    );
    assert_eq!(config.gateway.max_backlog, 1_000_000);
    assert_eq!(config.gateway.max_backlog_per_tenant, 100_000);
    assert_eq!(config.gateway.dedup_window, Duration::from_secs(600));
    assert_eq!(config.retention.dlq, Duration::from_secs(7 * 86_400));
    assert_eq!(config.retention.events_max_len, 10_000);
    assert_eq!(
        config.retention.events_max_age,
        Duration::from_secs(3 * 86_400)
    );
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!(config.log.filter, "info");
}

#[test]
fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
    let file = format!("[redis]\nprefix = \"from-file\"\npartitions = 4\n{ONE_TENANT}");
    let config = loaded(&file, &[("FERRY_REDIS__PREFIX", "from-env")]);
    assert_eq!(config.redis.prefix, "from-env");
    assert_eq!(config.redis.partitions, 4);
    assert_eq!(config.redis.url, "redis://127.0.0.1:6379");
}

#[test]
fn cluster_nodes_come_from_the_environment_and_default_to_sixteen_partitions() {
    let nodes = r#"["redis://:hunter2pw@10.0.0.1:7000", "redis://10.0.0.2:7000"]"#;
    let config = loaded(ONE_TENANT, &[("FERRY_REDIS__CLUSTER_NODES", nodes)]);
    assert_eq!(
        config.redis.cluster_nodes,
        ["redis://:hunter2pw@10.0.0.1:7000", "redis://10.0.0.2:7000"]
    );
    assert_eq!(config.redis.partitions, 16);
    assert!(!format!("{config:?}").contains("hunter2pw"));
    let explicit = loaded(
        ONE_TENANT,
        &[
            ("FERRY_REDIS__CLUSTER_NODES", nodes),
            ("FERRY_REDIS__PARTITIONS", "8"),
            ("FERRY_REDIS__WAIT_REPLICAS", "1"),
        ],
    );
    assert_eq!(explicit.redis.partitions, 8);
    assert_eq!(explicit.redis_config().wait_replicas, 1);
}

#[test]
fn environment_variables_reach_nested_keys() {
    let config = loaded(
        ONE_TENANT,
        &[
            ("FERRY_DELIVER__MAX_IN_FLIGHT", "7"),
            ("FERRY_GATEWAY__LIMITS__MAX_RETRIES", "9"),
            ("FERRY_GATEWAY__LISTEN", "0.0.0.0:9000"),
            (
                "FERRY_DELIVER__ALLOW_NETWORKS",
                r#"["10.1.2.3/8", "192.168.1.20", "fd00::1"]"#,
            ),
            ("FERRY_LOG__FORMAT", "json"),
            ("FERRY_RETENTION__DLQ", "3d"),
        ],
    );
    assert_eq!(config.deliver.max_in_flight, 7);
    assert_eq!(config.gateway.limits.max_retries, 9);
    assert_eq!(
        config.gateway.listen,
        SocketAddr::from(([0, 0, 0, 0], 9000))
    );
    let networks: Vec<String> = config
        .deliver
        .allow_networks
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(networks, ["10.0.0.0/8", "192.168.1.20/32", "fd00::1/128"]);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.retention.dlq, Duration::from_secs(3 * 86_400));
}

#[test]
fn unrelated_variables_are_ignored() {
    let config = loaded(
        ONE_TENANT,
        &[
            ("FERRY_TEST_REDIS_URL", "redis://127.0.0.1:1"),
            ("FERRY_REDIS_URL", "redis://127.0.0.1:2"),
            ("REDIS__URL", "redis://127.0.0.1:3"),
            ("PATH", "/usr/bin"),
        ],
    );
    assert_eq!(config.redis.url, "redis://127.0.0.1:6379");
}

#[test]
fn numeric_looking_values_stay_text() {
    let file = "[redis]\nprefix = 12345\n[[tenants]]\nname = 42\ntokens = [98765, 1.5]\n";
    let config = loaded(file, &[]);
    assert_eq!(config.redis.prefix, "12345");
    assert_eq!(config.tenants[0].name.as_str(), "42");
    assert_eq!(
        config.tenants[0].token_sha256,
        [Tokens::digest("98765"), Tokens::digest("1.5")]
    );

    let config = loaded(
        "",
        &[
            ("FERRY_REDIS__PREFIX", "007"),
            ("FERRY_LOG__FILTER", "true"),
            ("FERRY_TENANTS", "[{name = 7, tokens = [12345]}]"),
        ],
    );
    assert_eq!(config.redis.prefix, "007");
    assert_eq!(config.log.filter, "true");
    assert_eq!(config.tenants[0].name.as_str(), "7");
    assert_eq!(config.tenants[0].token_sha256, [Tokens::digest("12345")]);
}

#[test]
fn tenants_from_the_file_or_environment_replace_the_default_tenant() {
    let config = loaded(ONE_TENANT, &[]);
    let names: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["acme"]);

    let config = loaded(
        ONE_TENANT,
        &[(
            "FERRY_TENANTS",
            r#"[{name = "env", tokens = ["t1"]}, {name = "b", tokens = ["t2"]}]"#,
        )],
    );
    let names: Vec<&str> = config.tenants.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["env", "b"]);
}

#[test]
fn plaintext_tokens_are_hashed_beside_configured_digests() {
    let digest = token::to_hex(&Tokens::digest("other-token"));
    let config = loaded(
        &tenant_with(&format!(
            "token_sha256 = [\"{digest}\"]\ntokens = [\"{TOKEN}\"]"
        )),
        &[],
    );
    assert_eq!(
        config.tenants[0].token_sha256,
        [Tokens::digest("other-token"), Tokens::digest(TOKEN)]
    );
}

#[test]
fn digests_are_read_in_either_case() {
    let digest = token::to_hex(&Tokens::digest(TOKEN)).to_ascii_uppercase();
    let config = loaded(&tenant_with(&format!("token_sha256 = [\"{digest}\"]")), &[]);
    assert_eq!(config.tenants[0].token_sha256, [Tokens::digest(TOKEN)]);
}

#[test]
fn signing_keys_are_read_as_a_pair() {
    let file = tenant_with(&format!(
        "tokens = [\"t\"]\ninitial_signing_keys = {{ current = \"{KEY_A}\", next = \"{KEY_B}\" }}"
    ));
    let config = loaded(&file, &[]);
    let (current, next) = config.tenants[0]
        .initial_signing_keys
        .clone()
        .expect("keys were configured");
    assert_eq!((current.expose(), next.expose()), (KEY_A, KEY_B));
    let tenants = format!(
        "[{{name = \"env\", tokens = [\"t\"],\n initial_signing_keys = {{current = \"{KEY_B}\", next = \"{KEY_A}\"}}}}]"
    );
    let config = loaded("", &[("FERRY_TENANTS", &tenants)]);
    let (current, next) = config.tenants[0]
        .initial_signing_keys
        .clone()
        .expect("keys were configured");
    assert_eq!((current.expose(), next.expose()), (KEY_B, KEY_A));
}

#[test]
fn one_key_sets_both_timeout_limits() {
    let config = loaded(
        ONE_TENANT,
        &[
            ("FERRY_DELIVER__MAX_TIMEOUT", "60s"),
            ("FERRY_DELIVER__DEFAULT_TIMEOUT", "20s"),
        ],
    );
    assert_eq!(config.deliver.max_timeout, Duration::from_secs(60));
    assert_eq!(config.gateway.limits.max_timeout, Duration::from_secs(60));
    check_error(
        &format!("[gateway.limits]\nmax_timeout = \"60s\"\n{ONE_TENANT}"),
        &[],
        &["unknown field", "max_timeout"],
    );
}

#[test]
fn durations_accept_units_and_bare_seconds() {
    let config = loaded(
        ONE_TENANT,
        &[
            ("FERRY_DELIVER__PROMOTE_INTERVAL", "500ms"),
            ("FERRY_REDIS__COMMAND_TIMEOUT", "2"),
        ],
    );
    assert_eq!(config.deliver.promote_interval, Duration::from_millis(500));
    assert_eq!(config.redis.command_timeout, Duration::from_secs(2));
    let config = loaded(
        &format!("[deliver]\nmax_timeout = \"1d2h\"\n{ONE_TENANT}"),
        &[],
    );
    assert_eq!(config.deliver.max_timeout, Duration::from_secs(26 * 3600));
}

#[test]
fn bad_durations_name_the_key_and_the_value() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "FERRY_DELIVER__LEASE_TTL",
            "5x",
            "deliver.lease_ttl: invalid duration \"5x\"",
        ),
        (
            "FERRY_GATEWAY__DEDUP_WINDOW",
            "-1s",
            "gateway.dedup_window: invalid duration \"-1s\"",
        ),
        (
            "FERRY_GATEWAY__LIMITS__MAX_DELAY",
            "1.5d",
            "gateway.limits.max_delay: invalid duration \"1.5d\"",
        ),
        (
            "FERRY_RETENTION__DLQ",
            "",
            "retention.dlq: invalid duration \"\"",
        ),
    ];
    for (name, value, expected) in cases {
        check_error(ONE_TENANT, &[(name, value)], &[expected]);
    }
}

#[test]
fn timeouts_and_intervals_must_not_be_zero() {
    for key in [
        "FERRY_REDIS__COMMAND_TIMEOUT",
        "FERRY_GATEWAY__REQUEST_TIMEOUT",
        "FERRY_DELIVER__READ_BLOCK",
        "FERRY_DELIVER__PROMOTE_INTERVAL",
    ] {
        check_error(
            ONE_TENANT,
            &[(key, "0s")],
            &["must be longer than zero, found \"0s\""],
        );
    }
}

#[test]
fn invalid_values_name_the_key() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "FERRY_GATEWAY__LISTEN",
            "localhost:80",
            &["gateway.listen: invalid address \"localhost:80\""],
        ),
        (
            "FERRY_DELIVER__ALLOW_NETWORKS",
            r#"["10.0.0.0/33"]"#,
            &["deliver.allow_networks[0]: invalid network \"10.0.0.0/33\""],
        ),
        (
            "FERRY_REDIS__URL",
            "http://cache:6379",
            &["redis.url: unsupported scheme \"http\""],
        ),
        (
            "FERRY_REDIS__URL",
            "not a url",
            &["redis.url: not a valid URL"],
        ),
        (
            "FERRY_REDIS__PREFIX",
            "a{b}",
            &["redis.prefix: invalid prefix \"a{b}\""],
        ),
        (
            "FERRY_REDIS__PREFIX",
            "",
            &["redis.prefix: invalid prefix \"\""],
        ),
        (
            "FERRY_REDIS__PARTITIONS",
            "300",
            &["redis.partitions: 300 is out of range (use 0 for the default, or 1 to 256)"],
        ),
        (
            "FERRY_REDIS__PARTITIONS",
            "257",
            &["redis.partitions: 257 is out of range"],
        ),
        (
            "FERRY_REDIS__PARTITIONS",
            "many",
            &["\"many\"", "FERRY_REDIS__PARTITIONS"],
        ),
        (
            "FERRY_GATEWAY__MAX_BODY_BYTES",
            "0",
            &["gateway.max_body_bytes: must be at least 1"],
        ),
        ("FERRY_LOG__FORMAT", "xml", &["xml", "text", "json"]),
        (
            "FERRY_LOG__FILTER",
            "info,[",
            &["log.filter: invalid filter \"info,[\""],
        ),
        ("FERRY_REDIS__URLL", "redis://x", &["unknown field", "urll"]),
    ];
    for (name, value, expected) in cases {
        check_error(ONE_TENANT, &[(name, value)], expected);
    }
}

#[test]
fn unknown_keys_in_the_file_are_errors() {
    check_error(
        &format!("[delivr]\nmax_in_flight = 1\n{ONE_TENANT}"),
        &[],
        &["unknown field", "delivr"],
    );
    check_error(
        &tenant_with("tokens = [\"t\"]\ntoken = \"t\""),
        &[],
        &["unknown field", "token"],
    );
}

#[test]
fn deliver_rules_are_enforced() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("FERRY_DELIVER__LEASE_TTL", "500ms")],
            "deliver: lease_ttl (500ms) must be at least 1s",
        ),
        (
            &[("FERRY_DELIVER__DEFAULT_TIMEOUT", "3h")],
            "deliver: default_timeout (10800s) exceeds max_timeout (7200s)",
        ),
        (
            &[("FERRY_DELIVER__MAX_IN_FLIGHT", "0")],
            "deliver: max_in_flight must be at least 1",
        ),
        (
            &[("FERRY_DELIVER__BATCH_SIZE", "0")],
            "deliver: batch_size must be at least 1",
        ),
    ];
    for (env, expected) in cases {
        check_error(ONE_TENANT, env, &[expected]);
    }
    // A lease far shorter than the longest attempt is the intended shape.
    loaded(
        ONE_TENANT,
        &[
            ("FERRY_DELIVER__MAX_TIMEOUT", "2h"),
            ("FERRY_DELIVER__LEASE_TTL", "1s"),
        ],
    );
}

#[test]
fn default_retries_cannot_exceed_max_retries() {
    check_error(
        ONE_TENANT,
        &[
            ("FERRY_GATEWAY__LIMITS__DEFAULT_RETRIES", "5"),
            ("FERRY_GATEWAY__LIMITS__MAX_RETRIES", "4"),
        ],
        &["gateway.limits.default_retries (5) exceeds gateway.limits.max_retries (4)"],
    );
}

#[test]
fn a_tenant_without_tokens_is_an_error_that_says_how_to_make_one() {
    check_error(
        "",
        &[],
        &[
            "tenants[0]: tenant \"default\" has no token",
            "ferry tokens new",
        ],
    );
    check_error(
        &tenant_with("tokens = []"),
        &[],
        &["tenant \"acme\" has no token", "ferry tokens new"],
    );
    check_error(
        "",
        &[("FERRY_TENANTS", "[]")],
        &["tenants: none is configured", "ferry tokens new"],
    );
}

#[test]
fn a_token_belongs_to_one_tenant_only() {
    let digest = token::to_hex(&Tokens::digest("shared"));
    let file = format!(
        "[[tenants]]\nname = \"a\"\ntokens = [\"shared\"]\n\
         [[tenants]]\nname = \"b\"\ntoken_sha256 = [\"{digest}\"]\n"
    );
    check_error(
        &file,
        &[],
        &["tenants[1].token_sha256[0]: the same token as tenants[0].tokens[0]"],
    );
    check_error(
        &tenant_with("tokens = [\"t\", \"t\"]"),
        &[],
        &["tenants[0].tokens[1]: the same token as tenants[0].tokens[0]"],
    );
}

#[test]
fn tenant_names_are_checked() {
    let twice = "[[tenants]]\nname = \"a\"\ntokens = [\"1\"]\n[[tenants]]\nname = \"a\"\ntokens = [\"2\"]\n";
    check_error(
        twice,
        &[],
        &["tenants[1].name: tenant \"a\" is already defined by tenants[0]"],
    );
    check_error(
        "[[tenants]]\nname = \"a b\"\ntokens = [\"1\"]\n",
        &[],
        &["tenants[0].name: invalid name \"a b\""],
    );
}

#[test]
fn tokens_and_digests_are_checked_without_echoing_them() {
    let secret = "ferry_pasted-where-a-digest-belongs";
    let file = tenant_with(&format!("token_sha256 = [\"{secret}\"]"));
    check_error(
        &file,
        &[],
        &[
            "tenants[0].token_sha256[0]: not a SHA-256 digest",
            "found 35 characters",
        ],
    );
    check_error_hides(&file, &[], secret);
    check_error(
        &tenant_with("tokens = [\"\"]"),
        &[],
        &["tenants[0].tokens[0]: the token is empty"],
    );
    let plus_hex = format!("+{}", "a".repeat(63));
    check_error(
        &tenant_with(&format!("token_sha256 = [\"{plus_hex}\"]")),
        &[],
        &["not a SHA-256 digest"],
    );
}

#[test]
fn short_signing_keys_are_rejected_without_echoing_them() {
    let short = "sig_tooshort";
    let file = tenant_with(&format!(
        "tokens = [\"t\"]\ninitial_signing_keys = {{ current = \"{KEY_A}\", next = \"{short}\" }}"
    ));
    check_error(
        &file,
        &[],
        &["tenants[0].initial_signing_keys.next: signing key is 12 bytes long; at least 32"],
    );
    check_error_hides(&file, &[], short);
}

#[test]
fn secrets_of_the_wrong_shape_are_not_echoed() {
    let token = "ferry_mistyped-as-a-string";
    let cases = [
        // A string where a list belongs.
        tenant_with(&format!("tokens = \"{token}\"")),
        tenant_with(&format!("token_sha256 = \"{token}\"")),
        // One string where the key pair belongs.
        tenant_with(&format!(
            "tokens = [\"t\"]\ninitial_signing_keys = \"{token}\""
        )),
        tenant_with(&format!(
            "tokens = [\"t\"]\ninitial_signing_keys = {{ current = \"{KEY_A}\", next = [\"{token}\"] }}"
        )),
        format!("{ONE_TENANT}\n[console]\nsession_secret = [\"{token}\"]\n"),
        format!("[redis]\nurl = [\"redis://:{token}@cache\"]\n{ONE_TENANT}"),
        // A syntax error on the line that holds the secret.
        tenant_with(&format!("tokens = [\"{token}]")),
    ];
    for file in &cases {
        let message = error_message(file, &[]);
        assert!(!message.contains(token), "{message:?} reveals the token");
        assert!(
            message.contains("line") || message.contains("key"),
            "{message:?}"
        );
    }
    let env = [(
        "FERRY_TENANTS",
        "[{name = \"acme\", tokens = \"ferry_from-env\"}]",
    )];
    check_error_hides("", &env, "ferry_from-env");
    // Keys that hold no secret keep showing what was found.
    check_error(
        &format!("[gateway]\nmax_headers = \"many\"\n{ONE_TENANT}"),
        &[],
        &["many"],
    );
}

#[test]
fn redis_url_passwords_stay_out_of_messages() {
    check_error_hides(
        ONE_TENANT,
        &[("FERRY_REDIS__URL", "http://user:hunter2@cache")],
        "hunter2",
    );
    check_error(
        ONE_TENANT,
        &[("FERRY_REDIS__URL", "http://user:hunter2@cache")],
        &["http://user:redacted@cache"],
    );
    check_error_hides(ONE_TENANT, &[("FERRY_REDIS__URL", "::hunter2")], "hunter2");
}

#[test]
fn debug_output_redacts_every_secret() {
    let file = tenant_with(&format!(
        "tokens = [\"{TOKEN}\"]\ninitial_signing_keys = {{ current = \"{KEY_A}\", next = \"{KEY_B}\" }}"
    ));
    let config = loaded(
        &file,
        &[("FERRY_REDIS__URL", "redis://ferry:hunter2@cache:6379/0")],
    );
    let debug = format!("{config:?}");
    for secret in ["hunter2", TOKEN, KEY_A, KEY_B] {
        assert!(!debug.contains(secret), "{debug} reveals {secret}");
    }
    assert!(
        debug.contains("redis://ferry:redacted@cache:6379/0"),
        "{debug}"
    );
    assert!(debug.contains("n_tokens: 1"), "{debug}");
}

#[test]
fn redis_config_splits_the_backlog_bound_over_partitions() {
    let check = |max_backlog: &str, partitions: &str, expected: u64| {
        let config = loaded(
            ONE_TENANT,
            &[
                ("FERRY_GATEWAY__MAX_BACKLOG", max_backlog),
                ("FERRY_REDIS__PARTITIONS", partitions),
            ],
        );
        let redis = config.redis_config();
        assert_eq!(
            redis.max_backlog_per_partition, expected,
            "{max_backlog} over {partitions}"
        );
        let per_tenant = loaded(
            ONE_TENANT,
            &[
                ("FERRY_GATEWAY__MAX_BACKLOG_PER_TENANT", max_backlog),
                ("FERRY_REDIS__PARTITIONS", partitions),
            ],
        );
        assert_eq!(
            per_tenant.redis_config().max_tenant_backlog_per_partition,
            expected,
            "{max_backlog} per tenant over {partitions}"
        );
    };
    check("10", "4", 3);
    check("12", "4", 3);
    check("10", "1", 10);
    check("0", "8", 0);
}

#[test]
fn redis_config_carries_retention_and_dedup() {
    let config = loaded(
        ONE_TENANT,
        &[
            ("FERRY_REDIS__PREFIX", "p"),
            ("FERRY_GATEWAY__DEDUP_WINDOW", "90s"),
            ("FERRY_RETENTION__DLQ", "2d"),
            ("FERRY_RETENTION__EVENTS_MAX_LEN", "5"),
            ("FERRY_RETENTION__EVENTS_MAX_AGE", "90m"),
        ],
    );
    let redis = config.redis_config();
    assert_eq!(redis.prefix, "p");
    assert_eq!(redis.dedup_window, Duration::from_secs(90));
    assert_eq!(redis.dlq_retention, Duration::from_secs(2 * 86_400));
    assert_eq!(redis.events_max_len, 5);
    assert_eq!(redis.events_max_age, Duration::from_secs(90 * 60));
}

#[test]
fn generated_tokens_are_random_url_safe_and_load_by_digest() {
    let (token, digest) = generate_token();
    assert_eq!(token.len(), "ferry_".len() + 40, "{token}");
    assert!(token.starts_with("ferry_"), "{token}");
    assert!(
        token["ferry_".len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
    assert_eq!(digest, token::to_hex(&Tokens::digest(&token)));
    assert_ne!(generate_token().0, token);
    let config = loaded(&tenant_with(&format!("token_sha256 = [\"{digest}\"]")), &[]);
    assert_eq!(config.tenants[0].token_sha256, [Tokens::digest(&token)]);
}

#[test]
fn load_reads_the_given_file_and_names_it_when_missing() {
    let path = std::env::temp_dir().join(format!("ferry-config-test-{}.toml", std::process::id()));
    std::fs::write(&path, ONE_TENANT).expect("temp dir is writable");
    let env = [("FERRY_REDIS__PARTITIONS".to_owned(), "3".to_owned())];
    let result = load(Some(&path), &env);
    std::fs::remove_file(&path).expect("the file was just written");
    let config = result.unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(config.tenants[0].name.as_str(), "acme");
    assert_eq!(config.redis.partitions, 3);

    let message = format!(
        "{:#}",
        load(Some(&path), &[]).expect_err("the file is gone")
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn environment_sections_are_the_files_sections() {
    let defaults: Dict = Figment::from(Toml::string(DEFAULTS))
        .extract()
        .expect("defaults parse");
    let mut sections: Vec<&str> = defaults.keys().map(String::as_str).collect();
    let mut known = env::SECTIONS.to_vec();
    sections.sort_unstable();
    known.sort_unstable();
    assert_eq!(sections, known);
}

/// The annotated production example shipped in `deploy/`.
const DEPLOY_EXAMPLE: &str = include_str!("../../../../deploy/ferry.toml");

/// `text` with every `# key = value` line made live.
fn uncommented(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(|line| match line.strip_prefix("# ") {
            Some(rest) if is_assignment(rest) => rest,
            _ => line,
        })
        .collect();
    lines.join("\n")
}

fn is_assignment(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

/// Dotted paths of every non-table value in `dict`, tenants aside.
fn leaf_keys(dict: &Dict, prefix: &str, keys: &mut Vec<String>) {
    for (key, value) in dict {
        let path = format!("{prefix}{key}");
        match value {
            Value::Dict(_, child) => leaf_keys(child, &format!("{path}."), keys),
            _ if path == "tenants" => {}
            _ => keys.push(path),
        }
    }
}

fn documented_keys(toml: &str) -> Vec<String> {
    let dict: Dict = Figment::from(Toml::string(toml))
        .extract()
        .expect("valid TOML");
    let mut keys = Vec::new();
    leaf_keys(&dict, "", &mut keys);
    keys.sort_unstable();
    keys
}

#[test]
fn the_deployment_example_loads_and_shows_every_default() {
    let example = loaded(DEPLOY_EXAMPLE, &[]);
    assert_eq!(
        example.gateway.listen,
        SocketAddr::from(([0, 0, 0, 0], 8080))
    );
    let written_out = uncommented(DEPLOY_EXAMPLE);
    assert_eq!(documented_keys(&written_out), documented_keys(DEFAULTS));
    // Uncommenting the documented defaults changes nothing, so each one is
    // the value the binary really uses.
    assert_eq!(
        format!("{example:?}"),
        format!("{:?}", loaded(&written_out, &[]))
    );
}

#[test]
fn the_kubernetes_config_map_holds_a_loadable_file() {
    let manifest = include_str!("../../../../deploy/k8s/configmap.yaml");
    let (_, embedded) = manifest
        .split_once("ferry.toml: |\n")
        .expect("the ConfigMap has a ferry.toml entry");
    let file: Vec<&str> = embedded
        .lines()
        .map(|line| line.strip_prefix("    ").unwrap_or(line))
        .collect();
    let config = loaded(&file.join("\n"), &[]);
    assert_eq!(
        config.gateway.listen,
        SocketAddr::from(([0, 0, 0, 0], 8080))
    );
    assert_eq!(config.log.format, LogFormat::Json);
}

#[test]
fn the_console_is_off_by_default_and_its_secret_must_be_long() {
    let config = loaded(ONE_TENANT, &[]);
    assert!(!config.console.enabled);
    assert!(config.console.session_secret.is_none());
    let secret = "a-console-secret-of-at-least-32-chars";
    let config = loaded(
        ONE_TENANT,
        &[
            ("FERRY_CONSOLE__ENABLED", "true"),
            ("FERRY_CONSOLE__SESSION_SECRET", secret),
        ],
    );
    assert!(config.console.enabled);
    assert!(config.console.session_secret.is_some());
    assert!(
        !format!("{config:?}").contains(secret),
        "the secret never prints"
    );
    let message = error_message(ONE_TENANT, &[("FERRY_CONSOLE__SESSION_SECRET", "short")]);
    assert!(message.contains("console.session_secret"), "{message}");
    let dev = dev(8080, None, &[], &[]).expect("dev config");
    assert!(dev.console.enabled, "ferry dev serves the console");
}

#[test]
fn callbacks_carry_responses_up_to_the_message_size_limit() {
    let config = loaded(ONE_TENANT, &[("FERRY_GATEWAY__MAX_BODY_BYTES", "123456")]);
    assert_eq!(config.gateway.max_body_bytes, 123_456);
    assert_eq!(config.deliver.callback_response_max, 123_456);
}
