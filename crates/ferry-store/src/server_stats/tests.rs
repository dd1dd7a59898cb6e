use super::*;

const INFO: &str = "# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:1205\r\n\r\n\
# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:0.750000\r\nused_cpu_sys_children:9.000000\r\n\r\n\
# Commandstats\r\ncmdstat_evalsha:calls=40,usec=900,usec_per_call=22.50,rejected_calls=0,failed_calls=0\r\n\
cmdstat_eval:calls=2,usec=90,usec_per_call=45.00,rejected_calls=0,failed_calls=0\r\n\
cmdstat_xadd:calls=42,usec=100,usec_per_call=2.38,rejected_calls=0,failed_calls=0\r\n";

#[test]
fn info_gives_commands_script_calls_and_the_process_cpu() {
    assert_eq!(
        parse_info(INFO),
        ServerSample {
            commands: 1205,
            script_calls: 42,
            // Children (a rewrite's fork) are not the server's own work.
            cpu_us: 2_000_000,
        }
    );
}

#[test]
fn a_sample_since_an_earlier_one_is_the_growth_and_never_negative() {
    let earlier = ServerSample {
        commands: 100,
        script_calls: 10,
        cpu_us: 5,
    };
    let later = ServerSample {
        commands: 160,
        script_calls: 13,
        cpu_us: 4,
    };
    assert_eq!(
        later.since(&earlier),
        ServerSample {
            commands: 60,
            script_calls: 3,
            cpu_us: 0,
        }
    );
}

#[test]
fn primaries_are_the_live_slot_serving_masters_on_the_template_url() {
    let nodes = "\
a1 10.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460\n\
a2 10.0.0.2:7002@17002,redis-2 master - 0 0 2 connected 5461-10922\n\
a3 10.0.0.3:7003@17003 master,fail - 0 0 3 connected 10923-16383\n\
a4 10.0.0.4:7004@17004 slave a1 0 0 1 connected\n\
a5 10.0.0.5:7005@17005 master - 0 0 5 connected\n";
    assert_eq!(
        primary_urls("redis://:secret@seed:7000/0", nodes),
        vec![
            "redis://:secret@10.0.0.1:7001/0".to_owned(),
            "redis://:secret@10.0.0.2:7002/0".to_owned(),
        ]
    );
}
