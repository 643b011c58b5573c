"""Local execution: one machine runs the plan, serially, in parallel or resumed."""
