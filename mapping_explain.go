package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/acqueon-exporter/acqueon_exporter/capture"
	"github.com/acqueon-exporter/acqueon_exporter/collector"
	"github.com/acqueon-exporter/acqueon_exporter/explain"
)

// mappingExplainCommand is the full name of the mapping explain command,
// as kingpin returns it from Parse.
const mappingExplainCommand = "mapping explain"

// The outputs of mapping explain.
const (
	explainReport   = "report"
	explainFragment = "fragment"
	explainMerged   = "merged"
)

// mappingCommands holds the arguments of the mapping subcommands.
type mappingCommands struct {
	captures []string
	output   string
	examples int
}

// addMappingCommands declares `mapping explain`, which holds a capture
// against --mapping.file offline.
func addMappingCommands(app *kingpin.Application) *mappingCommands {
	cmds := &mappingCommands{}
	mapping := app.Command("mapping", "Work on the payload mapping.")
	explainCmd := mapping.Command("explain", "Hold a capture (from --record.file) against --mapping.file: "+
		"entities, the series the mapping makes, the fields it leaves out with a guess at their kind, "+
		"and a mapping fragment for them. Runs offline.")
	explainCmd.Arg("capture", "Capture files, oldest first (e.g. FILE.2 FILE.1 FILE).").
		Required().StringsVar(&cmds.captures)
	explainCmd.Flag("output", "report: the analysis and the fragment; fragment: only the fragment; "+
		"merged: the mapping with the fragment merged in, to edit and use as --mapping.file.").
		Default(explainReport).EnumVar(&cmds.output, explainReport, explainFragment, explainMerged)
	explainCmd.Flag("examples", "Examples shown per entity list, field and metric.").
		Default("3").IntVar(&cmds.examples)
	return cmds
}

// run runs the mapping command the arguments selected, if any; handled is
// false for other commands.
func (c *mappingCommands) run(command, mappingFile string, stdout, stderr io.Writer) (code int, handled bool) {
	if command != mappingExplainCommand {
		return 0, false
	}
	if err := c.explain(mappingFile, stdout); err != nil {
		fmt.Fprintf(stderr, "%s: mapping explain: %v\n", exporterName, err)
		return 1, true
	}
	return 0, true
}

func (c *mappingCommands) explain(mappingFile string, stdout io.Writer) error {
	mapping, err := collector.LoadMapping(mappingFile)
	if err != nil {
		return err
	}
	var records []capture.Record
	for _, path := range c.captures {
		err := capture.ReadFile(path, func(r capture.Record) error {
			records = append(records, r)
			return nil
		})
		if err != nil {
			return err
		}
	}
	report, err := explain.Analyze(strings.Join(c.captures, ", "), records,
		explain.Options{Mapping: mapping, Examples: c.examples})
	if err != nil {
		return err
	}

	switch c.output {
	case explainFragment:
		_, err = stdout.Write(report.Fragment())
		return err
	case explainMerged:
		return writeMerged(mappingFile, report.Fragment(), stdout)
	}
	return report.WriteText(stdout)
}

// writeMerged writes the mapping with the fragment merged in, checked.
func writeMerged(mappingFile string, fragment []byte, stdout io.Writer) error {
	base := collector.DefaultMapping()
	if mappingFile != "" {
		var err error
		if base, err = os.ReadFile(mappingFile); err != nil {
			return fmt.Errorf("read mapping: %w", err)
		}
	}
	merged := base
	if fragment != nil {
		var err error
		if merged, err = explain.Merge(base, fragment); err != nil {
			return err
		}
	}
	if _, err := collector.ParseMapping("merged mapping", merged); err != nil {
		return fmt.Errorf("the merged mapping is not valid, edit the fragment instead: %w", err)
	}
	_, err := stdout.Write(merged)
	return err
}
