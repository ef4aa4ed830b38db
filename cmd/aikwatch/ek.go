package main

import "context"

// registerEk adds the `ek` command(s).
func (c *cli) registerEk(actions map[string]func(context.Context) error) {}
