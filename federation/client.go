package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/signing"
)

// MaxResponseSize bounds a federation response body read into memory (a
// send_join response of a large room is the biggest; 100 MiB).
const MaxResponseSize = 100 << 20

// Client sends signed requests to other servers: every request carries an
// X-Matrix authorization signed with the server's key. It sends them
// through Transport, addressed to matrix-federation://<destination>/...,
// so the direct HTTPS transport and the relay's frame transport are
// interchangeable.
type Client struct {
	ServerName string
	Key        signing.Key
	Transport  http.RoundTripper
}

// RemoteError is a non-2xx answer from a remote server. It carries the
// remote's Matrix error when the body held one.
type RemoteError struct {
	Destination string
	Status      int
	ErrCode     string
	Message     string
	Body        []byte
}

func (e *RemoteError) Error() string {
	if e.ErrCode != "" {
		return fmt.Sprintf("federation: %s answered %d %s: %s", e.Destination, e.Status, e.ErrCode, e.Message)
	}
	return fmt.Sprintf("federation: %s answered %d", e.Destination, e.Status)
}

// Unwrap gives the remote's Matrix error as a *core.Error (same errcode,
// message and status), so callers that only know core see it
// (core.FederationClient's contract); nil when the body held none.
func (e *RemoteError) Unwrap() error {
	if e.ErrCode == "" {
		return nil
	}
	return &core.Error{ErrCode: e.ErrCode, Message: e.Message, Status: e.Status}
}

var _ core.FederationClient = (*Client)(nil)

// Request sends a signed JSON request to destination and decodes a 2xx
// answer's JSON into out (nil: discard it). path is the path from
// /_matrix with any query string, already escaped; body is marshalled to
// JSON (nil: no body). A non-2xx answer is a *RemoteError.
func (c *Client) Request(ctx context.Context, destination, method, path string, body, out any) error {
	var content []byte
	if body != nil {
		var err error
		if content, err = json.Marshal(body); err != nil {
			return fmt.Errorf("federation: encode request: %w", err)
		}
	}
	resp, err := c.RequestRaw(ctx, destination, method, path, content)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if sd, ok := out.(core.StreamDecoder); ok && resp.StatusCode/100 == 2 {
		lr := &io.LimitedReader{R: resp.Body, N: MaxResponseSize + 1}
		dec := json.NewDecoder(lr)
		if err := sd.DecodeStream(dec); err != nil {
			if lr.N <= 0 {
				return fmt.Errorf("federation: the answer of %s is larger than %d bytes", destination, MaxResponseSize)
			}
			return fmt.Errorf("federation: %s answered bad JSON: %w", destination, err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return fmt.Errorf("federation: %s answered bad JSON: data after the object", destination)
		}
		return nil
	}
	data, err := readLimited(resp.Body, MaxResponseSize)
	if err != nil {
		return fmt.Errorf("federation: read the answer of %s: %w", destination, err)
	}
	if resp.StatusCode/100 != 2 {
		return remoteError(destination, resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("federation: %s answered bad JSON: %w", destination, err)
	}
	return nil
}

// RequestRaw sends a signed request with content as its JSON body (nil:
// none) and returns the response as is, whatever its status; the caller
// closes its body. It is for streamed answers (media, large joins).
func (c *Client) RequestRaw(ctx context.Context, destination, method, path string, content []byte) (*http.Response, error) {
	// No read transaction is held while another server answers.
	core.ReleaseReads(ctx)
	if !strings.HasPrefix(path, "/_matrix/") {
		return nil, fmt.Errorf("federation: path %q does not start with /_matrix/", path)
	}
	auth, err := SignRequest(c.ServerName, destination, c.Key, method, path, content)
	if err != nil {
		return nil, err
	}
	u := &url.URL{Scheme: FederationScheme, Host: destination}
	rawPath, query, _ := strings.Cut(path, "?")
	p, err := url.PathUnescape(rawPath)
	if err != nil {
		return nil, fmt.Errorf("federation: path %q: %w", path, err)
	}
	u.Path, u.RawPath, u.RawQuery = p, rawPath, query
	var rd io.Reader
	if content != nil {
		rd = bytes.NewReader(content)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	if got := req.URL.RequestURI(); got != path {
		return nil, fmt.Errorf("federation: path %q would be sent as %q", path, got)
	}
	req.Header.Set("Authorization", auth.String())
	if content != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rt := c.Transport
	if rt == nil {
		return nil, errors.New("federation: the client has no transport")
	}
	return rt.RoundTrip(req)
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response larger than %d bytes", limit)
	}
	return b, nil
}

func remoteError(destination string, status int, body []byte) error {
	e := &RemoteError{Destination: destination, Status: status, Body: body}
	var m struct {
		ErrCode string `json:"errcode"`
		Error   string `json:"error"`
	}
	if json.Unmarshal(body, &m) == nil {
		e.ErrCode, e.Message = m.ErrCode, m.Error
	}
	return e
}

// AsMatrixError turns a remote's Matrix error into a core.Error to pass on
// to a client (same errcode and status), and anything else into
// M_UNAVAILABLE-style errors that do not leak the remote's internals.
func AsMatrixError(err error) error {
	var re *RemoteError
	if errors.As(err, &re) {
		if re.ErrCode != "" && re.Status >= 400 && re.Status < 500 {
			return &core.Error{ErrCode: re.ErrCode, Message: re.Message, Status: re.Status}
		}
		return core.ErrUnavailable.WithMessage("%s answered %d", re.Destination, re.Status)
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	return core.ErrUnavailable.WithMessage("federation request failed")
}
