//! The analytic ACT-vs-PACT comparison.
