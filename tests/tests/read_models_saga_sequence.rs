//! A saga sequence projected into every read model (orders, customers, payments,
//! notifications, saga timeline) and read back through the query API, against the real
//! stack: commands go in over HTTP and, for the steps only saga participants take, through
//! the command store; the relay runs as a `causeway serve --roles relay` process and the
//! projection workers in this process.

use causeway_tests::read_models::Stack;
use causeway_tests::read_models::saga_sequence::{
    notifications_are_each_sent_once, order_1s_timeline_holds_every_step_in_order_in_one_trace,
    order_2s_timeline_holds_its_rejection_in_its_trace,
    orders_show_each_outcome_at_the_version_asked_for,
    payments_show_the_refund_and_the_authorization,
    the_customer_shows_its_new_limit_and_the_credit_still_reserved,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_saga_sequence_is_projected_into_every_read_model_and_the_query_api() {
    let mut stack = Stack::start().await;
    let shop = stack.run_sagas().await;
    let s = &stack;

    orders_show_each_outcome_at_the_version_asked_for(s, &shop).await;
    the_customer_shows_its_new_limit_and_the_credit_still_reserved(s, &shop).await;
    payments_show_the_refund_and_the_authorization(s, &shop).await;
    notifications_are_each_sent_once(s, &shop).await;
    order_1s_timeline_holds_every_step_in_order_in_one_trace(s, &shop).await;
    order_2s_timeline_holds_its_rejection_in_its_trace(s, &shop).await;
    stack.workers.stop().await;
}
