package simulator

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/acqueon-exporter/acqueon_exporter/auth/idptest"
	"github.com/acqueon-exporter/acqueon_exporter/protocol"
)

func TestSessionIsClosedWhenItsTokenExpires(t *testing.T) {
	const token = "short-lived-token"
	for _, tt := range []struct {
		name       string
		initialize bool
	}{
		{"initialized session", true},
		{"session waiting for its initialization request", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			expiry := start.Add(300 * time.Millisecond)
			s, base := startServer(t, Config{
				PushInterval: 20 * time.Millisecond,
				Authenticate: func(_ protocol.Form, password string) bool { return password == token },
				TokenExpiry: func(_ protocol.Form, password string) (time.Time, bool) {
					return expiry, password == token
				},
			})
			name := "PerformanceMetrics_ACQ"
			conn, _, err := dialFeed(t, base, protocol.PathConsole, name, token)
			if err != nil {
				t.Fatalf("dial with a valid token: %v", err)
			}
			readEnvelope(t, conn)
			if tt.initialize {
				if err := conn.WriteMessage(websocket.TextMessage, protocol.InitializationRequest(name, 0)); err != nil {
					t.Fatal(err)
				}
			}

			if code := readCloseCode(t, conn); code != CloseTokenExpired {
				t.Errorf("close code %d, want %d", code, CloseTokenExpired)
			}
			if closedAfter := time.Since(start); closedAfter < 300*time.Millisecond {
				t.Errorf("session closed %v after the start, before its token expired", closedAfter)
			}
			sessions, err := s.Wait(testCtx(t), func(ss []Session) bool { return !ss[0].Disconnected.IsZero() })
			if err != nil {
				t.Fatal(err)
			}
			got := sessions[0]
			if got.End != "token expired" || !got.TokenExpiry.Equal(expiry) || got.Initialized != tt.initialize {
				t.Errorf("session record: end %q, token expiry %v (want %v), initialized %v",
					got.End, got.TokenExpiry, expiry, got.Initialized)
			}
			if tt.initialize && got.Pushed == 0 {
				t.Error("no metric message before the token expired")
			}
		})
	}
}

func TestIDPTokensAreCheckedForExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 6, 3, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	idp := idptest.NewServer(idptest.Config{
		Users:               map[string]string{"reader": "reader-password"},
		PasswordGrant:       true,
		AccessTokenLifetime: time.Minute,
		Now:                 clock,
	})
	t.Cleanup(idp.Close)
	s, base := startServer(t, Config{
		// Any token the IDP issued, expired or not: the expiry check is
		// the server's own.
		Authenticate: func(form protocol.Form, password string) bool {
			_, issued := idp.FeedTokenExpiry(form, password)
			return issued
		},
		TokenExpiry:  idp.FeedTokenExpiry,
		PushInterval: time.Hour,
		Now:          clock,
	})

	token := passwordGrant(t, idp.URL)
	password := base64.StdEncoding.EncodeToString([]byte(token))
	conn, _, err := dialFeed(t, base, protocol.PathDataTransmitter, "PerformanceMetrics_ACQ_1", password)
	if err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	readEnvelope(t, conn)
	if got := s.Sessions()[0].TokenExpiry; !got.Equal(now.Add(time.Minute)) {
		t.Errorf("session's token expiry %v, want %v", got, now.Add(time.Minute))
	}

	_, resp, err := dialFeed(t, base, protocol.PathDataTransmitter, "PerformanceMetrics_ACQ_2",
		base64.StdEncoding.EncodeToString([]byte("never-issued")))
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unknown token: %v, want HTTP 401", err)
	}

	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	_, resp, err = dialFeed(t, base, protocol.PathDataTransmitter, "PerformanceMetrics_ACQ_3", password)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired token: %v, want HTTP 401", err)
	}
	sessions := s.Sessions()
	if got := sessions[2].Refused; got != "token expired" {
		t.Errorf("expired token refused because %q, want %q", got, "token expired")
	}
	if got := sessions[1].Refused; got != "wrong credentials" {
		t.Errorf("unknown token refused because %q, want %q", got, "wrong credentials")
	}
}

// passwordGrant obtains an access token from the test IDP at issuer.
func passwordGrant(t *testing.T, issuer string) string {
	t.Helper()
	transport := &http.Transport{}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	resp, err := client.PostForm(issuer+"/token", url.Values{
		"grant_type": {"password"},
		"client_id":  {"acqueon-exporter"},
		"username":   {"reader"},
		"password":   {"reader-password"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || answer.AccessToken == "" {
		t.Fatalf("token answer: HTTP %d, %v", resp.StatusCode, err)
	}
	return answer.AccessToken
}
