package main

import (
	"errors"
	"fmt"

	"github.com/alecthomas/kingpin/v2"

	"github.com/acqueon-exporter/acqueon_exporter/simulator"
)

// replayOptions are the --demo.replay flags: the simulator plays a capture
// instead of its contact-center model.
type replayOptions struct {
	file  string
	speed float64
	loop  bool
}

// addReplayFlags declares the --demo.replay flags; --demo.replay implies
// --demo, so it sets *demo.
func addReplayFlags(app *kingpin.Application, opts *replayOptions, demo *bool) {
	app.Flag("demo.replay", "Implies --demo. The simulator sends the frames of this capture "+
		"(from --record.file) instead of its own data; the connection event and the "+
		"initialization stay live. Each session plays the capture from its start.").
		Action(func(*kingpin.ParseContext) error {
			*demo = true
			return nil
		}).
		StringVar(&opts.file)
	app.Flag("demo.replay-speed", "Pace of --demo.replay: 1 as recorded, 10 ten times faster, "+
		"0 as fast as possible.").
		Default("1").Float64Var(&opts.speed)
	app.Flag("demo.replay-loop", "Start --demo.replay again after its last frame; otherwise the "+
		"session stays open and quiet, and the series expire after --collector.entity-ttl.").
		BoolVar(&opts.loop)
}

// replaySource returns the simulator's frame source for --demo.replay, or
// nil without it.
func replaySource(opts replayOptions) (simulator.FrameSource, error) {
	if opts.file == "" {
		return nil, nil
	}
	if opts.speed < 0 {
		return nil, errors.New("--demo.replay-speed must not be negative")
	}
	replay, err := simulator.NewReplay(opts.file, simulator.ReplayOptions{Speed: opts.speed, Loop: opts.loop})
	if err != nil {
		return nil, fmt.Errorf("--demo.replay: %w", err)
	}
	return replay, nil
}
