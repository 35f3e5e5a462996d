package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// datasourceRef is how every panel and query names its data source: the
// dashboard's datasource variable.
const datasourceRef = "${datasource}"

// pinnedSchemaVersion is the classic dashboard schema the JSON is written
// in; Grafana 10.4 and later load it and migrate it on their own.
const pinnedSchemaVersion = 39

// requireTool returns the path of a command-line tool the test needs. Without
// it the test is skipped on a workstation and fails in CI (CI set).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "" {
		t.Skipf("%s not found (set CI to make this a failure): %v", name, err)
	}
	t.Fatalf("%s not found: %v", name, err)
	return ""
}

// runTool runs a tool and fails the test with its output if it fails.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	path := requireTool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ---- Rule files -------------------------------------------------------

type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name           string `yaml:"name"`
		AlertRuleTests []struct {
			Alertname string `yaml:"alertname"`
			EvalTime  string `yaml:"eval_time"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func ruleFilePaths(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("rules", "*.yml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rule files in rules/: %v", err)
	}
	return paths
}

func ruleTestPaths(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("rules", "tests", "*.yml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no rule unit tests in rules/tests/: %v", err)
	}
	return paths
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}

func loadRules(t *testing.T) map[string]ruleFile {
	t.Helper()
	files := map[string]ruleFile{}
	for _, path := range ruleFilePaths(t) {
		var f ruleFile
		readYAML(t, path, &f)
		files[path] = f
	}
	return files
}

// recordingRuleNames returns the names the recording rules define.
func recordingRuleNames(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					names[r.Record] = true
				}
			}
		}
	}
	return names
}

func TestRuleFilesPassPromtoolCheck(t *testing.T) {
	t.Parallel()
	out := runTool(t, "promtool", append([]string{"check", "rules"}, ruleFilePaths(t)...)...)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules did not report success:\n%s", out)
	}
}

func TestRuleUnitTestsPass(t *testing.T) {
	t.Parallel()
	out := runTool(t, "promtool", append([]string{"test", "rules"}, ruleTestPaths(t)...)...)
	if strings.Contains(out, "FAILED") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
}

var (
	alertNamePattern  = regexp.MustCompile(`^Acqueon[A-Z][A-Za-z0-9]*$`)
	recordNamePattern = regexp.MustCompile(`^[a-z_]+:acqueon_[a-z0-9_]+:[a-z0-9_]+$`)
	severities        = map[string]bool{"critical": true, "warning": true, "info": true}
)

func TestRulesFollowNamingAndLabelConventions(t *testing.T) {
	for path, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				switch {
				case r.Record != "":
					if !recordNamePattern.MatchString(r.Record) {
						t.Errorf("%s: recording rule %q is not level:metric:operations", path, r.Record)
					}
				case !alertNamePattern.MatchString(r.Alert):
					t.Errorf("%s: alert %q is not CamelCase with the prefix Acqueon", path, r.Alert)
				case !severities[r.Labels["severity"]]:
					t.Errorf("%s: alert %s has severity %q", path, r.Alert, r.Labels["severity"])
				case r.Annotations["summary"] == "" || r.Annotations["description"] == "":
					t.Errorf("%s: alert %s lacks a summary or a description", path, r.Alert)
				}
			}
		}
	}
}

// TestEveryAlertIsUnitTested requires, for every alert, a unit test in which
// it fires (with its severity, summary and description checked) and one in
// which it stays silent.
func TestEveryAlertIsUnitTested(t *testing.T) {
	severityOf := map[string]string{}
	for _, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					severityOf[r.Alert] = r.Labels["severity"]
				}
			}
		}
	}

	fires := map[string]bool{}
	silent := map[string]bool{}
	for _, path := range ruleTestPaths(t) {
		var f ruleTestFile
		readYAML(t, path, &f)
		for _, tc := range f.Tests {
			for _, at := range tc.AlertRuleTests {
				if _, ok := severityOf[at.Alertname]; !ok {
					t.Errorf("%s (%s): unit test for unknown alert %q", path, tc.Name, at.Alertname)
				}
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname] = true
				}
				for _, exp := range at.ExpAlerts {
					if exp.ExpLabels["severity"] != severityOf[at.Alertname] ||
						exp.ExpAnnotations["summary"] == "" || exp.ExpAnnotations["description"] == "" {
						t.Errorf("%s (%s): expected %s lacks its severity, summary or description",
							path, tc.Name, at.Alertname)
						continue
					}
					fires[at.Alertname] = true
				}
			}
		}
	}

	for alert := range severityOf {
		if !fires[alert] {
			t.Errorf("no unit test shows %s firing", alert)
		}
		if !silent[alert] {
			t.Errorf("no unit test shows %s silent", alert)
		}
	}
}

// ---- Dashboards --------------------------------------------------------

type dashboardFile struct {
	path  string
	model map[string]any
}

func loadDashboards(t *testing.T) []dashboardFile {
	t.Helper()
	paths, err := filepath.Glob("*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var out []dashboardFile
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var model map[string]any
		if err := json.Unmarshal(raw, &model); err != nil {
			t.Fatalf("%s is not valid JSON: %v", path, err)
		}
		out = append(out, dashboardFile{path: path, model: model})
	}
	return out
}

// panels returns every panel of a dashboard, including those nested in
// collapsed rows; rows themselves are left out.
func panels(model map[string]any) []map[string]any {
	var out []map[string]any
	var walk func(list []any)
	walk = func(list []any) {
		for _, item := range list {
			p, _ := item.(map[string]any)
			if p == nil {
				continue
			}
			if p["type"] == "row" {
				nested, _ := p["panels"].([]any)
				walk(nested)
				continue
			}
			out = append(out, p)
		}
	}
	top, _ := model["panels"].([]any)
	walk(top)
	return out
}

func variables(model map[string]any) []map[string]any {
	templating, _ := model["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	var out []map[string]any
	for _, item := range list {
		if v, ok := item.(map[string]any); ok {
			out = append(out, v)
		}
	}
	return out
}

// usesDatasourceVariable accepts the reference as an object with the
// variable as uid, or the older plain string form.
func usesDatasourceVariable(ds any) bool {
	switch ds := ds.(type) {
	case string:
		return ds == datasourceRef
	case map[string]any:
		return ds["uid"] == datasourceRef
	}
	return false
}

func panelTitle(p map[string]any) string {
	return fmt.Sprintf("panel %v %q", p["id"], p["title"])
}

func TestDashboardsHaveUniqueUIDsAndPinnedSchema(t *testing.T) {
	seen := map[string]string{}
	for _, d := range loadDashboards(t) {
		uid, _ := d.model["uid"].(string)
		if uid == "" {
			t.Errorf("%s has no uid", d.path)
		} else if other, dup := seen[uid]; dup {
			t.Errorf("%s and %s share the uid %q", d.path, other, uid)
		}
		seen[uid] = d.path
		if v, _ := d.model["schemaVersion"].(float64); v != pinnedSchemaVersion {
			t.Errorf("%s has schemaVersion %v, want %d", d.path, d.model["schemaVersion"], pinnedSchemaVersion)
		}
		if d.model["title"] == "" || d.model["id"] != nil {
			t.Errorf("%s needs a title and a null id so that it imports anywhere", d.path)
		}
	}
}

func TestDashboardPanelsUseDatasourceVariableUnitAndDescription(t *testing.T) {
	for _, d := range loadDashboards(t) {
		ids := map[float64]bool{}
		for _, p := range panels(d.model) {
			where := d.path + " " + panelTitle(p)
			if id, _ := p["id"].(float64); ids[id] {
				t.Errorf("%s: duplicate panel id", where)
			} else {
				ids[id] = true
			}
			if !usesDatasourceVariable(p["datasource"]) {
				t.Errorf("%s: datasource is %v, want %s", where, p["datasource"], datasourceRef)
			}
			if desc, _ := p["description"].(string); strings.TrimSpace(desc) == "" {
				t.Errorf("%s: no description", where)
			}
			fieldConfig, _ := p["fieldConfig"].(map[string]any)
			defaults, _ := fieldConfig["defaults"].(map[string]any)
			if unit, _ := defaults["unit"].(string); unit == "" {
				t.Errorf("%s: no unit in fieldConfig.defaults", where)
			}
			targets, _ := p["targets"].([]any)
			if len(targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			for _, item := range targets {
				target, _ := item.(map[string]any)
				if !usesDatasourceVariable(target["datasource"]) {
					t.Errorf("%s: query %v uses datasource %v", where, target["refId"], target["datasource"])
				}
			}
		}
	}
}

func TestDashboardVariables(t *testing.T) {
	entities := map[string][]string{
		"acqueon-campaigns.json":     {"campaign_group", "campaign"},
		"acqueon-agents-queues.json": {"campaign_group", "campaign", "queue"},
		"acqueon-exporter.json":      nil,
	}
	for _, d := range loadDashboards(t) {
		byName := map[string]map[string]any{}
		for _, v := range variables(d.model) {
			name, _ := v["name"].(string)
			byName[name] = v
		}

		ds := byName["datasource"]
		if ds["type"] != "datasource" || ds["query"] != "prometheus" {
			t.Errorf("%s: want a datasource variable of type datasource querying prometheus, got %v", d.path, ds)
		}

		wanted, known := entities[d.path]
		if !known {
			t.Errorf("%s: a dashboard this test does not know; list its entity variables", d.path)
		}
		for _, name := range append([]string{"job", "instance"}, wanted...) {
			v := byName[name]
			if v == nil {
				t.Errorf("%s: no variable %q", d.path, name)
				continue
			}
			query := variableQuery(v)
			if v["type"] != "query" || !strings.HasPrefix(query, "label_values(") ||
				!strings.HasSuffix(query, ", "+name+")") {
				t.Errorf("%s: variable %s should be label_values(..., %s), got %q", d.path, name, name, query)
			}
			if v["multi"] != true || v["includeAll"] != true {
				t.Errorf("%s: variable %s should be multi-select with All", d.path, name)
			}
			if !usesDatasourceVariable(v["datasource"]) {
				t.Errorf("%s: variable %s uses datasource %v", d.path, name, v["datasource"])
			}
		}
	}
}

// variableQuery returns a query variable's query in either of the forms
// Grafana stores: a string or an object with a query field.
func variableQuery(v map[string]any) string {
	switch q := v["query"].(type) {
	case string:
		return q
	case map[string]any:
		s, _ := q["query"].(string)
		return s
	}
	return ""
}

// dashboardExpression is one PromQL expression found in a dashboard.
type dashboardExpression struct {
	where string // file, panel and query, for messages
	expr  string // with Grafana's variables left in
}

var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// dashboardExpressions returns every query of every panel, and the series
// selector of every label_values variable.
func dashboardExpressions(t *testing.T) []dashboardExpression {
	t.Helper()
	var out []dashboardExpression
	for _, d := range loadDashboards(t) {
		for _, p := range panels(d.model) {
			targets, _ := p["targets"].([]any)
			for _, item := range targets {
				target, _ := item.(map[string]any)
				expr, _ := target["expr"].(string)
				where := fmt.Sprintf("%s %s query %v", d.path, panelTitle(p), target["refId"])
				if strings.TrimSpace(expr) == "" {
					t.Errorf("%s: empty expression", where)
					continue
				}
				out = append(out, dashboardExpression{where: where, expr: expr})
			}
		}
		for _, v := range variables(d.model) {
			if v["type"] != "query" {
				continue
			}
			where := fmt.Sprintf("%s variable %v", d.path, v["name"])
			m := labelValuesQuery.FindStringSubmatch(variableQuery(v))
			if m == nil {
				t.Errorf("%s: query %q is not label_values(selector, label)", where, variableQuery(v))
				continue
			}
			out = append(out, dashboardExpression{where: where, expr: m[1]})
		}
	}
	return out
}

// grafanaBuiltins are Grafana's interval variables with sample values that
// keep an expression valid PromQL.
var grafanaBuiltins = strings.NewReplacer(
	"${__rate_interval}", "5m", "$__rate_interval", "5m",
	"${__interval_ms}", "60000", "$__interval_ms", "60000",
	"${__interval}", "1m", "$__interval", "1m",
	"${__range_ms}", "86400000", "$__range_ms", "86400000",
	"${__range_s}", "86400", "$__range_s", "86400",
	"${__range}", "1d", "$__range", "1d",
)

// grafanaVariable matches ${name}, ${name:format}, [[name]], [[name:format]]
// and $name.
var grafanaVariable = regexp.MustCompile(
	`\$\{[A-Za-z0-9_]+(?::[^}]*)?\}|\[\[[A-Za-z0-9_]+(?::[^\]]*)?\]\]|\$[A-Za-z_][A-Za-z0-9_]*`)

// substituteVariables turns a dashboard expression into plain PromQL the way
// Grafana would, with a sample value for every variable. The dashboards use
// their variables only inside label matchers, where any string will do.
func substituteVariables(expr string) string {
	expr = grafanaBuiltins.Replace(expr)
	return grafanaVariable.ReplaceAllString(expr, "sample")
}

func TestSubstituteVariables(t *testing.T) {
	got := substituteVariables(`sum(rate(x{a=~"$job", b=~"${instance:regex}", c="[[queue]]"}[$__rate_interval]))` +
		` / ${__range_s} offset $__interval`)
	want := `sum(rate(x{a=~"sample", b=~"sample", c="sample"}[5m])) / 86400 offset 1m`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

var nonNameCharacters = regexp.MustCompile(`[^a-zA-Z0-9_]+`)

// TestDashboardQueriesParse parses every dashboard expression with
// Prometheus's own parser by handing them to promtool as recording rules.
func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	exprs := dashboardExpressions(t)
	var rules []rule
	for i, e := range exprs {
		name := fmt.Sprintf("dashboard_expression_%d_%s", i, nonNameCharacters.ReplaceAllString(e.where, "_"))
		rules = append(rules, rule{Record: name, Expr: substituteVariables(e.expr)})
	}
	raw, err := yaml.Marshal(map[string][]group{"groups": {{Name: "dashboard-expressions", Rules: rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-expressions.yml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	out := runTool(t, "promtool", "check", "rules", path)
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(rules)); !strings.Contains(out, want) {
		t.Fatalf("promtool check rules: want %q in\n%s", want, out)
	}
}

// prometheusOwnNames are series Prometheus itself writes for every target.
var prometheusOwnNames = map[string]bool{"up": true}

// ruleExpressions returns the expression of every rule in rules/.
func ruleExpressions(t *testing.T) []dashboardExpression {
	t.Helper()
	var out []dashboardExpression
	for path, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				out = append(out, dashboardExpression{where: path + " " + r.Record + r.Alert, expr: r.Expr})
			}
		}
	}
	return out
}

func TestQueriesUseOnlyExposedMetrics(t *testing.T) {
	known := exposedMetricNames(t)
	for name := range recordingRuleNames(t) {
		known[name] = true
	}
	for name := range prometheusOwnNames {
		known[name] = true
	}

	for _, e := range append(dashboardExpressions(t), ruleExpressions(t)...) {
		names := metricNames(substituteVariables(e.expr))
		if len(names) == 0 {
			t.Errorf("%s: selects no metric: %s", e.where, e.expr)
		}
		for _, name := range names {
			if !known[name] {
				t.Errorf("%s: unknown metric %q", e.where, name)
			}
		}
	}
}

// TestDashboardsShowEveryExposedMetric keeps the dashboards in step with
// what the exporter exposes.
func TestDashboardsShowEveryExposedMetric(t *testing.T) {
	used := map[string]bool{}
	for _, e := range dashboardExpressions(t) {
		for _, name := range metricNames(substituteVariables(e.expr)) {
			used[name] = true
		}
	}
	var missing []string
	for name := range exposedMetricNames(t) {
		if strings.HasPrefix(name, "acqueon_") && !used[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no dashboard shows %s", strings.Join(missing, ", "))
	}
}

// ---- Metric names in PromQL ---------------------------------------------

// promqlAggregations are the aggregation operators, which may be followed by
// "by (...)" instead of an opening parenthesis.
var promqlAggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
}

// promqlKeywords are words that are neither metric nor function names.
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"inf": true, "nan": true, "start": true, "end": true,
}

// promqlLabelLists are keywords followed by a parenthesised list of labels.
var promqlLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names an expression selects by name. It
// reads just enough PromQL for that: it skips strings, label matchers, range
// brackets and label lists, and takes an identifier for a metric name unless
// it is a keyword, an aggregation or a function call.
func metricNames(expr string) []string {
	var names []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			i = skipString(expr, i)
		case c == '{':
			i = skipUntil(expr, i, '}')
		case c == '[':
			i = skipUntil(expr, i, ']')
		case c == '#':
			i = skipUntil(expr, i, '\n')
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isNameCharacter(expr[i]) || expr[i] == '.') {
				i++
			}
		case isNameStart(c):
			start := i
			for i < len(expr) && isNameCharacter(expr[i]) {
				i++
			}
			word := expr[start:i]
			next := skipSpace(expr, i)
			switch {
			case promqlLabelLists[strings.ToLower(word)]:
				if next < len(expr) && expr[next] == '(' {
					i = skipUntil(expr, next, ')')
				}
			case promqlKeywords[strings.ToLower(word)], promqlAggregations[strings.ToLower(word)]:
			case next < len(expr) && expr[next] == '(':
				// a function call
			default:
				names = append(names, word)
			}
		default:
			i++
		}
	}
	return names
}

func isNameStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isNameCharacter(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }

func skipSpace(s string, i int) int {
	for i < len(s) && strings.ContainsRune(" \t\r\n", rune(s[i])) {
		i++
	}
	return i
}

// skipString returns the index after the string literal starting at i.
func skipString(s string, i int) int {
	quote := s[i]
	for i++; i < len(s); i++ {
		switch {
		case s[i] == '\\' && quote != '`':
			i++
		case s[i] == quote:
			return i + 1
		}
	}
	return len(s)
}

// skipUntil returns the index after the first end outside string literals,
// starting at i.
func skipUntil(s string, i int, end byte) int {
	for i++; i < len(s); {
		switch s[i] {
		case '"', '\'', '`':
			i = skipString(s, i)
		case end:
			return i + 1
		default:
			i++
		}
	}
	return len(s)
}

func TestMetricNames(t *testing.T) {
	cases := map[string][]string{
		`sum by (state) (max by (job, state) (a_total{x=~"b|c", y="}"} * on (job) group_left (g) c:d:e))`: {"a_total", "c:d:e"},
		`(x > 0) / (-deriv(y[30m]) > 0) < 3600 and on (i) z offset 5m`:                                    {"x", "y", "z"},
		`count(a) or vector(0)`:                      {"a"},
		`time() - last_message{job="j"} > 1e3`:       {"last_message"},
		`sum(rate(m[5m])) BY (le) + Inf * NaN`:       {"m"},
		`label_replace(u, "dst", "$1", "s", "(.*)")`: {"u"},
	}
	for expr, want := range cases {
		if got := metricNames(expr); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("metricNames(%s) = %v, want %v", expr, got, want)
		}
	}
}
