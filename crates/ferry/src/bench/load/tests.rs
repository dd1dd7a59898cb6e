use super::*;

fn urls(n_hosts: u8) -> Vec<Url> {
    (1..=n_hosts)
        .map(|k| {
            Url::parse(&format!(
                "http://gw/v2/publish/http://127.0.0.{k}:4000/ingest"
            ))
            .unwrap()
        })
        .collect()
}

#[test]
fn message_seq_goes_to_host_one_plus_seq_modulo_the_host_count() {
    let target = Target::spread(urls(3), None).unwrap();
    let host_of = |seq| {
        let url = target.url_for(seq).as_str();
        urls(3).iter().position(|u| u.as_str() == url).unwrap() + 1
    };
    let hosts: Vec<usize> = (0..7).map(host_of).collect();
    assert_eq!(hosts, [1, 2, 3, 1, 2, 3, 1]);
    assert_eq!(host_of(u64::MAX), 1, "u64::MAX % 3 == 0");
}

#[test]
fn a_single_destination_takes_every_message_and_none_is_refused() {
    let only = urls(1).remove(0);
    let target = Target::single(only.clone(), Some("t".to_owned()));
    assert!((0..5).all(|seq| target.url_for(seq) == &only));
    assert!(Target::spread(Vec::new(), None).is_err());
}
