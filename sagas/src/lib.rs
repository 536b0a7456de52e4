//! Choreographed saga participants (inventory, payment, order, notification): consumer groups
//! that react to events by issuing commands to their own aggregates, and compensate.
//!
//! Arrives with the sagas issue.
