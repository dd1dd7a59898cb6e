use super::*;

#[test]
fn the_generated_configuration_is_accepted_by_ferry_as_intended() {
    let namespace = format!("ferry-bench-test-{}", uuid::Uuid::new_v4().simple());
    let (token, digest_hex) = crate::config::generate_token();
    let file = ConfigFile::write(&namespace, &config_toml(&namespace, 41234, &digest_hex)).unwrap();
    let env = [(
        REDIS_URL_VAR.to_owned(),
        "redis://127.0.0.1:6390/".to_owned(),
    )];

    let config = crate::config::load(Some(&file.path), &env).unwrap();

    assert_eq!(config.redis.url, "redis://127.0.0.1:6390/");
    assert_eq!(config.redis.prefix, namespace);
    assert_eq!(config.gateway.listen, "127.0.0.1:41234".parse().unwrap());
    assert_eq!(
        config.deliver.allow_networks,
        vec!["127.0.0.0/8".parse().unwrap()]
    );
    // Everything measured is the shipped default.
    let shipped = ferry_deliver::DeliverConfig {
        allow_networks: config.deliver.allow_networks.clone(),
        ..ferry_deliver::DeliverConfig::default()
    };
    assert_eq!(format!("{:?}", config.deliver), format!("{shipped:?}"));
    assert_eq!(config.log.filter, "warn");
    assert_eq!(config.tenants.len(), 1);
    assert_eq!(config.tenants[0].name.as_str(), TENANT);
    assert_eq!(
        config.tenants[0].token_sha256,
        vec![ferry_gateway::Tokens::digest(&token)]
    );
}

#[test]
fn the_configuration_file_is_private_and_removed_on_drop() {
    let namespace = format!("ferry-bench-test-{}", uuid::Uuid::new_v4().simple());
    let file = ConfigFile::write(&namespace, "x = 1\n").unwrap();
    let path = file.path.clone();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    drop(file);
    assert!(!path.exists());
}
