package main

import "context"

// registerSimulate adds the `simulate` command(s).
func (c *cli) registerSimulate(actions map[string]func(context.Context) error) {}
