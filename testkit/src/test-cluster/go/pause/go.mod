// The pod sandbox ("pause") program of the real node: no dependencies.
module expense-tracker.local/test-cluster/pause

go 1.24
