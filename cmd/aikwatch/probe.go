package main

import "context"

// registerProbe adds the `probe` command(s).
func (c *cli) registerProbe(actions map[string]func(context.Context) error) {}
