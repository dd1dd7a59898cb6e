use std::time::Duration;

use super::*;

/// A job in a test: its destination and a number to tell it apart.
#[derive(Debug, PartialEq)]
struct Job(&'static str, u32);

impl Destined for Job {
    fn destination(&self) -> &str {
        self.0
    }
}

const WAIT: Duration = Duration::from_secs(1);

fn started(admission: Admission<Job>) -> Slot {
    match admission {
        Admission::Start(_, slot) => slot,
        other => panic!("expected a start, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_lane_queues_while_it_drains_fast_and_starts_in_order() {
    let lanes = Lanes::new(2, WAIT);
    let a = started(lanes.admit(Job("h", 1)));
    let _b = started(lanes.admit(Job("h", 2)));
    // One quick attempt sets the lane's pace.
    tokio::time::advance(Duration::from_millis(10)).await;
    let (next, c) = {
        assert!(matches!(lanes.admit(Job("h", 3)), Admission::Queued));
        assert!(matches!(lanes.admit(Job("h", 4)), Admission::Queued));
        lanes.finish(a).expect("the first waiting job starts")
    };
    assert_eq!(next, Job("h", 3), "first come, first started");
    assert_eq!(lanes.n_waiting(), 1);
    let (next, _) = lanes.finish(c).unwrap();
    assert_eq!(next, Job("h", 4));
    assert_eq!(lanes.n_waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_hanging_destination_hands_work_back_and_others_run() {
    let lanes = Lanes::new(2, WAIT);
    let _a = started(lanes.admit(Job("hang", 1)));
    let _b = started(lanes.admit(Job("hang", 2)));
    // Its attempts have been running for a minute without an answer.
    tokio::time::advance(Duration::from_secs(60)).await;
    match lanes.admit(Job("hang", 3)) {
        Admission::HandBack(job, delay) => {
            assert_eq!(job, Job("hang", 3));
            assert!(delay > WAIT, "due when a slot may be free, got {delay:?}");
            assert!(delay <= MAX_HAND_BACK);
        }
        other => panic!("expected a hand-back, got {other:?}"),
    }
    assert_eq!(lanes.n_waiting(), 0, "nothing of it waits in memory");
    started(lanes.admit(Job("fast", 4)));
}

#[tokio::test(start_paused = true)]
async fn the_hand_back_delay_follows_the_destinations_latency() {
    let lanes = Lanes::new(1, Duration::from_millis(100));
    for took in [4, 2] {
        let slot = started(lanes.admit(Job("slow", took)));
        tokio::time::advance(Duration::from_secs(took.into())).await;
        assert!(lanes.finish(slot).is_none());
    }
    // The lane remembers its pace while idle: 4 s, then 2 s, averaged.
    let _running = started(lanes.admit(Job("slow", 3)));
    match lanes.admit(Job("slow", 4)) {
        Admission::HandBack(_, delay) => {
            assert_eq!(delay, Duration::from_secs_f64(3.6), "one attempt ahead")
        }
        other => panic!("expected a hand-back, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn waiting_jobs_are_drained_at_shutdown() {
    let lanes = Lanes::new(1, WAIT);
    let slot = started(lanes.admit(Job("h", 1)));
    assert!(matches!(lanes.admit(Job("h", 2)), Admission::Queued));
    assert!(matches!(lanes.admit(Job("h", 3)), Admission::Queued));
    assert_eq!(lanes.drain_waiting(), vec![Job("h", 2), Job("h", 3)]);
    assert!(lanes.finish(slot).is_none());
    assert_eq!(lanes.n_waiting(), 0);
}

#[tokio::test(start_paused = true)]
async fn jobs_waiting_longer_than_promised_are_handed_back() {
    let lanes = Lanes::new(1, WAIT);
    let _running = started(lanes.admit(Job("h", 1)));
    // The destination looked fast when these arrived...
    assert!(matches!(lanes.admit(Job("h", 2)), Admission::Queued));
    tokio::time::advance(WAIT / 2).await;
    assert!(matches!(lanes.admit(Job("h", 3)), Admission::Queued));
    assert!(lanes.overdue().is_empty(), "nobody waited too long yet");
    // ...but its attempt never finishes.
    tokio::time::advance(WAIT / 2 + Duration::from_millis(1)).await;
    let overdue = lanes.overdue();
    assert_eq!(overdue.len(), 1, "only the job past the wait");
    assert_eq!(overdue[0].0, Job("h", 2));
    assert!(overdue[0].1 >= MIN_HAND_BACK);
    assert_eq!(lanes.n_waiting(), 1);
}
