package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// kingpin reports a bad flag value with the parser's words alone
// ("time: invalid duration"); these values add the flag's name, so that a
// wrong flag fails at start-up saying which one.

// durationFlag is a time.Duration flag whose errors name the flag.
type durationFlag struct {
	name   string
	target *time.Duration
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("--%s: %q is not a duration such as 5s or 2m", f.name, s)
	}
	if d < 0 {
		return fmt.Errorf("--%s: %s is negative", f.name, s)
	}
	*f.target = d
	return nil
}

func (f durationFlag) String() string { return f.target.String() }

// durationVar declares a duration flag on app.
func durationVar(app *kingpin.Application, name, help, def string, target *time.Duration) {
	app.Flag(name, help).Default(def).SetValue(durationFlag{name: name, target: target})
}

// intFlag is a non-negative whole-number flag whose errors name the flag.
type intFlag[T int | int64] struct {
	name   string
	target *T
}

func (f intFlag[T]) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || int64(T(n)) != n {
		return fmt.Errorf("--%s: %q is not a whole number", f.name, s)
	}
	if n < 0 {
		return fmt.Errorf("--%s: %d is negative", f.name, n)
	}
	*f.target = T(n)
	return nil
}

func (f intFlag[T]) String() string { return strconv.FormatInt(int64(*f.target), 10) }

// intVar declares a non-negative whole-number flag on app.
func intVar[T int | int64](app *kingpin.Application, name, help, def string, target *T) {
	app.Flag(name, help).Default(def).SetValue(intFlag[T]{name: name, target: target})
}
