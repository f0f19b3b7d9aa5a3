"""Each model or explainer here breaks one clause of the contract; `zoo check` must say which."""
