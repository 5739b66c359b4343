//! The producer side: what `emit` touches.

mod emit;
