package dashboards

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// examplesDir holds the example deployment.
const examplesDir = "../examples"

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Ports       []string          `yaml:"ports"`
	Volumes     []any             `yaml:"volumes"`
	Environment map[string]string `yaml:"environment"`
}

// mount is one volume of a compose service.
type mount struct {
	source string // a host path relative to the compose file, or a volume name
	target string // the path inside the container
}

func (m mount) bind() bool {
	return strings.HasPrefix(m.source, ".") || strings.HasPrefix(m.source, "/")
}

func (s composeService) mounts(t *testing.T) []mount {
	t.Helper()
	var out []mount
	for _, v := range s.Volumes {
		switch v := v.(type) {
		case string:
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("volume %q has no target", v)
				continue
			}
			out = append(out, mount{source: parts[0], target: parts[1]})
		case map[string]any:
			source, _ := v["source"].(string)
			target, _ := v["target"].(string)
			out = append(out, mount{source: source, target: target})
		default:
			t.Errorf("volume %v in an unknown form", v)
		}
	}
	return out
}

// hostPath maps a path inside a service's container to the repository
// through the service's bind mounts; "" when no bind mount covers it.
func (s composeService) hostPath(t *testing.T, containerPath string) string {
	t.Helper()
	for _, m := range s.mounts(t) {
		if !m.bind() {
			continue
		}
		if containerPath == m.target {
			return filepath.Join(examplesDir, m.source)
		}
		if rest, ok := strings.CutPrefix(containerPath, m.target+"/"); ok {
			return filepath.Join(examplesDir, m.source, rest)
		}
	}
	return ""
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	readYAML(t, filepath.Join(examplesDir, "docker-compose.yml"), &c)
	for _, name := range []string{"exporter", "prometheus", "alertmanager", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Fatalf("docker-compose.yml has no service %q", name)
		}
	}
	return c
}

func TestComposeMountsExistInTheRepository(t *testing.T) {
	c := loadCompose(t)
	for name, s := range c.Services {
		for _, m := range s.mounts(t) {
			if !m.bind() {
				if _, declared := c.Volumes[m.source]; !declared {
					t.Errorf("service %s mounts the undeclared volume %q", name, m.source)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join(examplesDir, m.source)); err != nil {
				t.Errorf("service %s mounts %s, which is not in the repository: %v", name, m.source, err)
			}
		}
	}
}

var pinnedImage = regexp.MustCompile(`^[a-z0-9./-]+:v?[0-9]+\.[0-9]+\.[0-9]+$`)

func TestComposeRunsTheExporterInDemoModeAndPinsImages(t *testing.T) {
	c := loadCompose(t)
	exporter := c.Services["exporter"]
	if exporter.Build != ".." {
		t.Errorf("exporter is built from %v, want ..", exporter.Build)
	}
	if _, err := os.Stat(filepath.Join(examplesDir, "..", "go.mod")); err != nil {
		t.Errorf("the exporter's build context is not the module root: %v", err)
	}
	if !slices.Contains(exporter.Command, "--demo") {
		t.Errorf("exporter command %v lacks --demo", exporter.Command)
	}
	if !slices.Contains(exporter.Ports, "9817:9817") {
		t.Errorf("exporter ports %v do not publish 9817", exporter.Ports)
	}
	for name, s := range c.Services {
		if name != "exporter" && !pinnedImage.MatchString(s.Image) {
			t.Errorf("service %s uses image %q, want a pinned version", name, s.Image)
		}
	}
}

// TestComposeConfigurationsPointAtMountedFiles follows the paths that the
// configurations inside the containers name back into the repository.
func TestComposeConfigurationsPointAtMountedFiles(t *testing.T) {
	c := loadCompose(t)
	prometheus := c.Services["prometheus"]

	var promConfig struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, prometheus.hostPath(t, "/etc/prometheus/prometheus.yml"), &promConfig)
	var ruleFiles []string
	for _, pattern := range promConfig.RuleFiles {
		host := prometheus.hostPath(t, pattern)
		matches, _ := filepath.Glob(host)
		if host == "" || len(matches) == 0 {
			t.Errorf("rule_files %s matches no mounted file", pattern)
		}
		ruleFiles = append(ruleFiles, matches...)
	}
	if want := ruleFilePaths(t); len(ruleFiles) != len(want) {
		t.Errorf("the example Prometheus loads %v, want all of %v", ruleFiles, want)
	}
	scrapesExporter := false
	for _, sc := range promConfig.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			scrapesExporter = scrapesExporter || sc.JobName == "acqueon" && slices.Contains(st.Targets, "exporter:9817")
		}
	}
	if !scrapesExporter {
		t.Error(`prometheus.yml does not scrape exporter:9817 in job "acqueon", which the alerts select`)
	}

	grafana := c.Services["grafana"]
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, grafana.hostPath(t, "/etc/grafana/provisioning/dashboards/acqueon.yml"), &provider)
	for _, p := range provider.Providers {
		dashboards, _ := filepath.Glob(filepath.Join(grafana.hostPath(t, p.Options.Path), "*.json"))
		if len(dashboards) != len(loadDashboards(t)) {
			t.Errorf("the dashboard provider's path %s holds %v", p.Options.Path, dashboards)
		}
	}
	if _, err := os.Stat(grafana.hostPath(t, "/etc/grafana/provisioning/datasources/prometheus.yml")); err != nil {
		t.Errorf("no data source provisioning: %v", err)
	}
	home := grafana.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if _, err := os.Stat(grafana.hostPath(t, home)); home != "" && err != nil {
		t.Errorf("the home dashboard %s is not mounted: %v", home, err)
	}

	alertmanager := c.Services["alertmanager"]
	if _, err := os.Stat(alertmanager.hostPath(t, "/etc/alertmanager/alertmanager.yml")); err != nil {
		t.Errorf("alertmanager.yml is not mounted: %v", err)
	}
}

func TestAlertmanagerConfigPassesAmtool(t *testing.T) {
	t.Parallel()
	out := runTool(t, "amtool", "check-config", filepath.Join(examplesDir, "alertmanager.yml"))
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool check-config:\n%s", out)
	}
}

func TestPrometheusConfigPassesPromtool(t *testing.T) {
	t.Parallel()
	out := runTool(t, "promtool", "check", "config", "--syntax-only", filepath.Join(examplesDir, "prometheus.yml"))
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check config:\n%s", out)
	}
}

// TestAlertmanagerRoutesAlertsBySeverity routes every alert of the rule
// files through the example Alertmanager configuration with amtool.
func TestAlertmanagerRoutesAlertsBySeverity(t *testing.T) {
	t.Parallel()
	receiverFor := map[string]string{
		"critical": "contact-center-oncall",
		"warning":  "contact-center-team",
		"info":     "contact-center-team",
	}
	config := "--config.file=" + filepath.Join(examplesDir, "alertmanager.yml")
	for _, f := range loadRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				severity := r.Labels["severity"]
				out := runTool(t, "amtool", "config", "routes", "test", config,
					"alertname="+r.Alert, "severity="+severity, "instance=exporter:9817")
				if got := strings.TrimSpace(lastLine(out)); got != receiverFor[severity] {
					t.Errorf("%s (%s) goes to %q, want %q", r.Alert, severity, got, receiverFor[severity])
				}
			}
		}
	}
}

// lastLine returns the last line of a tool's output that is not a warning.
func lastLine(out string) string {
	last := ""
	for _, line := range strings.Split(out, "\n") {
		if line != "" && !strings.HasPrefix(line, "Warning:") {
			last = line
		}
	}
	return last
}
