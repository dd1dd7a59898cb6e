use super::*;

/// The verdict as text: `ok`, or the refusal message a caller would log.
fn verdict(result: Result<(), Refused>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(refused) => refused.to_string(),
    }
}

fn refused(ip: &str, reason: &str) -> String {
    format!("refused {ip}: {reason} (add it to deliver.allow_networks to permit it)")
}

fn policy(allow: &[&str]) -> AddressPolicy {
    AddressPolicy::new(allow.iter().map(|net| net.parse().unwrap()).collect())
}

#[track_caller]
fn check_url(policy: &AddressPolicy, raw: &str, expect: &str) {
    let url = Url::parse(raw).unwrap();
    assert_eq!(verdict(policy.check_url(&url)), expect, "url {raw}");
}

#[track_caller]
fn check_ip(policy: &AddressPolicy, raw: &str, expect: &str) {
    let ip: IpAddr = raw.parse().unwrap();
    assert_eq!(verdict(policy.check_ip(ip)), expect, "address {raw}");
}

#[test]
fn refusal_message_names_address_reason_and_switch() {
    assert_eq!(
        verdict(AddressPolicy::deny_private().check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))),
        "refused 127.0.0.1: loopback address (add it to deliver.allow_networks to permit it)",
    );
}

#[test]
fn a_refusal_told_about_a_host_name_names_no_address() {
    let refused = AddressPolicy::deny_private()
        .check_ip("10.1.2.3".parse().unwrap())
        .unwrap_err();
    assert_eq!(
        refused.without_address(),
        "private network address (add its network to deliver.allow_networks to permit it)",
    );
}

#[test]
fn loopback_is_refused_in_every_spelling() {
    let policy = AddressPolicy::deny_private();
    let v4_loopback = refused("127.0.0.1", "loopback address");
    for raw in [
        "http://127.0.0.1/",
        "http://0x7f.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0x7f000001/",
        "http://017700000001/",
        "http://127.0.0.1./",
        "http://%31%32%37.0.0.1/",
        "http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}/",
        "http://[::ffff:127.0.0.1]/",
        "https://127.0.0.1:8443/a?b=c",
    ] {
        check_url(&policy, raw, &v4_loopback);
    }
    check_url(
        &policy,
        "http://127.255.255.254/",
        &refused("127.255.255.254", "loopback address"),
    );
    for raw in ["http://[::1]/", "http://[0:0:0:0:0:0:0:1]/"] {
        check_url(&policy, raw, &refused("::1", "loopback address"));
    }
}

#[test]
fn cloud_metadata_addresses_are_refused() {
    let policy = AddressPolicy::deny_private();
    check_url(
        &policy,
        "http://169.254.169.254/latest/meta-data/",
        &refused(
            "169.254.169.254",
            "link-local address (this includes cloud metadata services)",
        ),
    );
    check_url(
        &policy,
        "http://[fd00:ec2::254]/latest/meta-data/",
        &refused(
            "fd00:ec2::254",
            "unique local address (this includes cloud metadata services)",
        ),
    );
}

#[test]
fn every_denied_ipv4_range_is_refused_at_its_edges() {
    let policy = AddressPolicy::deny_private();
    for (ip, reason) in [
        ("0.0.0.0", "\"this network\" address"),
        ("0.255.255.255", "\"this network\" address"),
        ("10.0.0.0", "private network address"),
        ("10.255.255.255", "private network address"),
        ("100.64.0.0", "shared (carrier-grade NAT) address"),
        ("100.127.255.255", "shared (carrier-grade NAT) address"),
        (
            "169.254.0.1",
            "link-local address (this includes cloud metadata services)",
        ),
        ("172.16.0.0", "private network address"),
        ("172.31.255.255", "private network address"),
        ("192.0.0.8", "IETF protocol assignment address"),
        ("192.0.2.1", "documentation address"),
        ("192.88.99.1", "6to4 relay anycast address"),
        ("192.168.0.1", "private network address"),
        ("198.18.0.0", "benchmarking address"),
        ("198.19.255.255", "benchmarking address"),
        ("198.51.100.7", "documentation address"),
        ("203.0.113.9", "documentation address"),
        ("224.0.0.1", "multicast address"),
        ("239.255.255.250", "multicast address"),
        ("240.0.0.1", "reserved or broadcast address"),
        ("255.255.255.255", "reserved or broadcast address"),
    ] {
        check_ip(&policy, ip, &refused(ip, reason));
    }
}

#[test]
fn public_ipv4_addresses_next_to_denied_ranges_are_admitted() {
    let policy = AddressPolicy::deny_private();
    for ip in [
        "1.1.1.1",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "126.255.255.255",
        "128.0.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.0.1.255",
        "192.0.3.0",
        "192.167.255.255",
        "192.169.0.0",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
    ] {
        check_ip(&policy, ip, "ok");
    }
}

#[test]
fn every_denied_ipv6_range_is_refused() {
    let policy = AddressPolicy::deny_private();
    for (ip, reason) in [
        ("::", "unspecified address"),
        ("::1", "loopback address"),
        ("::7f00:1", "IPv4-compatible address (deprecated)"),
        ("64:ff9b::7f00:1", "NAT64 address (embeds an IPv4 address)"),
        (
            "64:ff9b::a9fe:a9fe",
            "NAT64 address (embeds an IPv4 address)",
        ),
        (
            "64:ff9b:1::a00:1",
            "local-use NAT64 address (embeds an IPv4 address)",
        ),
        ("100::1", "discard-only address"),
        (
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "Teredo address (embeds an IPv4 address)",
        ),
        ("2001:db8::1", "documentation address"),
        ("2002:7f00:1::", "6to4 address (embeds an IPv4 address)"),
        (
            "fc00::1",
            "unique local address (this includes cloud metadata services)",
        ),
        ("fe80::1", "link-local address"),
        ("ff02::1", "multicast address"),
        (
            "::ffff:0:7f00:1",
            "IPv4-translated address (embeds an IPv4 address)",
        ),
        (
            "::ffff:0:a9fe:a9fe",
            "IPv4-translated address (embeds an IPv4 address)",
        ),
        ("fec0::1", "site-local address (deprecated)"),
        ("feff:ffff::1", "site-local address (deprecated)"),
        ("2001:2::1", "benchmarking address"),
        ("2001:2:0:ffff::1", "benchmarking address"),
        ("3fff::1", "documentation address"),
        ("3fff:fff:ffff::1", "documentation address"),
    ] {
        check_ip(&policy, ip, &refused(ip, reason));
    }
}

#[test]
fn mapped_addresses_are_judged_as_the_ipv4_address_they_carry() {
    let policy = AddressPolicy::deny_private();
    check_ip(
        &policy,
        "::ffff:10.1.2.3",
        &refused("10.1.2.3", "private network address"),
    );
    check_ip(
        &policy,
        "::ffff:169.254.169.254",
        &refused(
            "169.254.169.254",
            "link-local address (this includes cloud metadata services)",
        ),
    );
    check_ip(&policy, "::ffff:8.8.8.8", "ok");
}

#[test]
fn public_ipv6_addresses_are_admitted() {
    let policy = AddressPolicy::deny_private();
    for ip in [
        "2606:4700:4700::1111",
        "2a00:1450:4001::200e",
        "64:ff9c::1",
        "2003::1",
        "2001:3::1",
        "3fff:1000::1",
    ] {
        check_ip(&policy, ip, "ok");
    }
}

#[test]
fn urls_with_public_literals_or_host_names_pass() {
    let policy = AddressPolicy::deny_private();
    for raw in [
        "https://93.184.215.14/hook",
        "https://[2606:4700:4700::1111]/hook",
        "https://example.com/hook",
        // Names are judged after resolution, where `localhost` is caught.
        "http://localhost/",
        "http://localhost./",
    ] {
        check_url(&policy, raw, "ok");
    }
}

#[test]
fn non_http_schemes_are_refused_before_the_host_is_looked_at() {
    let policy = policy(&["0.0.0.0/0", "::/0"]);
    check_url(
        &policy,
        "gopher://127.0.0.1:6379/_",
        "refused scheme \"gopher\": only http and https destinations are called",
    );
    check_url(
        &policy,
        "file:///etc/passwd",
        "refused scheme \"file\": only http and https destinations are called",
    );
}

#[test]
fn allowlisted_host_admits_only_itself() {
    let policy = policy(&["127.0.0.1/32"]);
    check_url(&policy, "http://127.0.0.1:8080/", "ok");
    check_url(&policy, "http://[::ffff:127.0.0.1]/", "ok");
    check_url(
        &policy,
        "http://127.0.0.2/",
        &refused("127.0.0.2", "loopback address"),
    );
    check_url(
        &policy,
        "http://[::1]/",
        &refused("::1", "loopback address"),
    );
}

#[test]
fn allowlisted_networks_admit_their_members() {
    let policy = policy(&["10.1.0.0/16", "fd00::/8"]);
    check_ip(&policy, "10.1.2.3", "ok");
    check_ip(&policy, "::ffff:10.1.2.3", "ok");
    check_ip(
        &policy,
        "10.2.0.1",
        &refused("10.2.0.1", "private network address"),
    );
    check_ip(&policy, "fd00:ec2::254", "ok");
    check_ip(
        &policy,
        "fe80::1",
        &refused("fe80::1", "link-local address"),
    );
}

#[test]
fn mapped_allowlist_entries_match_ipv4_addresses() {
    let policy = policy(&["::ffff:10.1.0.0/112"]);
    check_ip(&policy, "10.1.200.3", "ok");
    check_ip(
        &policy,
        "10.2.0.1",
        &refused("10.2.0.1", "private network address"),
    );
}
