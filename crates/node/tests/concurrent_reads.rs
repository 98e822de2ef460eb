//! Reads of a case while its messages arrive: a request's history and its
//! messages are read separately, so a message taken in between the two
//! reads must not make the read see a history entry without its message
//! (which would be reported as a tampered record).

#![allow(clippy::unwrap_used)] // a panic in a test is a failed test

use custos_model::{RequestKind, template, validate};
use custos_node::app::{Actor, CaseAction as A};
use custos_testkit::Network;
use serde_json::json;
use time::Duration;

fn officer(state: &str) -> Actor {
    Actor::Cli {
        user: format!("officer-{}", state.to_lowercase()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_read_while_messages_arrive_never_reports_a_tampered_record() {
    let net = Network::in_process(&["FR", "DE"]).await.unwrap();
    let draft = validate::parse(&template::render(RequestKind::Mla)).unwrap();
    let sent = net.node("FR").submit(draft, &officer("FR")).await.unwrap();
    let reply = net.carry("FR", &sent.message_id, "DE").await.unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let thread = sent.thread;
    const LETTERS: usize = 6;

    // France writes to Germany again and again; Germany's officer reads
    // the case (and the request) all the while.
    let writes = async {
        for i in 0..LETTERS {
            net.clock.advance(Duration::seconds(1));
            let letter = json!({"text": format!("Letter {i}.")});
            let sent = net
                .node("FR")
                .act(&thread, A::Correspond, letter, &officer("FR"))
                .await
                .unwrap();
            let reply = net.carry("FR", &sent.message_id, "DE").await.unwrap();
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
    };
    // Three readers at once, each through the checked read the case and
    // the request are both shown from; the last read of each shows the
    // case with every letter.
    let reader = |n: usize| {
        let de = net.node("DE");
        let thread = thread.clone();
        async move {
            let mut reads = 0;
            loop {
                let detail = de.request_detail(&thread).await.unwrap_or_else(|e| {
                    panic!("read {reads} of reader {n} failed while letters arrived: {e}")
                });
                reads += 1;
                if detail.messages.len() == LETTERS + 1 {
                    let case = de.case(&thread, &officer("DE")).await.unwrap();
                    assert_eq!(case.timeline.len(), LETTERS + 1);
                    return reads;
                }
                tokio::task::yield_now().await;
            }
        }
    };
    let ((), a, b, c) = tokio::join!(writes, reader(1), reader(2), reader(3));
    assert!(a + b + c > 3, "the request was read while letters arrived");
}
