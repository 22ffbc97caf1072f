"""HTTP views on the worker's Faust web server. Views validate and publish; they hold no logic."""
