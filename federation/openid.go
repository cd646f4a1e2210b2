package federation

import (
	"net/http"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/matrixhttp"
)

// openIDUserInfo answers GET /_matrix/federation/v1/openid/userinfo: the
// user an OpenID token (from the client API's
// /user/{userId}/openid/request_token) was issued to, or 401
// M_UNKNOWN_TOKEN for an unknown or expired one.
func (m *Messaging) openIDUserInfo(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("access_token")
	if token == "" {
		matrixhttp.WriteError(w, r, core.ErrUnknownToken.WithMessage("Token is not recognised"))
		return
	}
	userID, err := m.opts.OpenID.OpenIDTokenUser(r.Context(), token)
	if err != nil {
		matrixhttp.WriteError(w, r, err)
		return
	}
	matrixhttp.WriteJSON(w, http.StatusOK, map[string]string{"sub": userID})
}
