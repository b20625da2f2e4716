//! # chainrule-inspect
//!
//! Seeing inside a computation: step-by-step traces of forward and backward
//! passes, the graph drawn as Mermaid, Graphviz DOT or SVG, gradient checks
//! of whole models, per-layer gradient-flow diagnosis, NaN provenance, and
//! TensorBoard event files of training runs.

pub mod gradcheck_model;

pub mod flow;
pub mod flow_chart;

pub mod draw;
pub mod expr;
pub mod formula;
pub mod number;
pub mod tensorboard;
pub mod trace;
