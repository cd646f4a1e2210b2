package federation

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"hearth.dev/hearth/core"
	"hearth.dev/hearth/core/room"
	"hearth.dev/hearth/matrixhttp"
)

// Transaction limits (server-server API, "Transactions").
const (
	MaxTxnPDUs = 50
	MaxTxnEDUs = 100
)

// Transaction is the body of PUT /_matrix/federation/v1/send/{txnId}.
type Transaction struct {
	Origin         string            `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
	EDUs           []EDU             `json:"edus"`
}

// EDU is an ephemeral data unit.
type EDU struct {
	Type    string          `json:"edu_type"`
	Content json.RawMessage `json:"content"`
}

// pduResult is one entry of the transaction response's "pdus".
type pduResult struct {
	Error string `json:"error,omitempty"`
}

// putSend answers PUT /_matrix/federation/v1/send/{txnId}: at most 50 PDUs
// and 100 EDUs, idempotent per (origin, txnId) with the first answer
// replayed, PDUs handed to the PDU layer (their results in the answer),
// EDUs to their services.
func (s *Server) putSend(w http.ResponseWriter, r *http.Request, origin string) error {
	txnID := r.PathValue("txnID")
	var txn Transaction
	if err := matrixhttp.ReadJSONLimit(r, &txn, MaxRequestBody); err != nil {
		return err
	}
	if txn.Origin != "" && txn.Origin != origin {
		return core.ErrForbidden.WithMessage("the transaction's origin is not the signing server")
	}
	if len(txn.PDUs) > MaxTxnPDUs || len(txn.EDUs) > MaxTxnEDUs {
		return core.ErrBadJSON.WithMessage("a transaction holds at most %d PDUs and %d EDUs", MaxTxnPDUs, MaxTxnEDUs)
	}
	ctx := r.Context()
	unlock, err := s.txnLocks.lock(ctx, origin)
	if err != nil {
		return err
	}
	defer unlock()
	if prev, err := s.opts.Txns.FederationTxnResponse(ctx, origin, txnID); err == nil {
		matrixhttp.WriteRawJSON(w, http.StatusOK, prev)
		return nil
	} else if !errors.Is(err, core.ErrNotFound) {
		return err
	}
	results := map[string]pduResult{}
	if len(txn.PDUs) > 0 {
		if s.opts.PDUs == nil {
			return core.ErrUnavailable.WithMessage("this server does not accept PDUs yet")
		}
		errs := s.opts.PDUs.ReceivePDUs(ctx, origin, txn.PDUs)
		// Every PDU gets an entry, {} when it was accepted (spec, PUT
		// /send, "PDU Processing Results"), keyed by its event ID. A PDU
		// whose ID cannot be worked out (of a room this server is not in,
		// so of an unknown version, or one that does not parse) has none
		// to key it by: it is dropped unanswered, as Synapse drops PDUs of
		// unknown rooms, instead of answered under a made-up key.
		for eventID, perr := range errs {
			if !strings.HasPrefix(eventID, "$") {
				s.log.Debug("federation: PDU dropped", "origin", origin, "err", perr)
				continue
			}
			results[eventID] = pduResult{}
			if perr != nil {
				results[eventID] = pduResult{Error: pduErrorMessage(perr)}
			}
		}
	}
	// EDUs are best effort: one that cannot be applied is dropped (the
	// spec gives them no result), never failing the transaction.
	for _, edu := range txn.EDUs {
		if err := s.opts.EDUs.apply(ctx, origin, edu); err != nil {
			s.log.Debug("federation: EDU dropped", "origin", origin, "type", edu.Type, "err", err)
		}
	}
	resp, err := json.Marshal(map[string]any{"pdus": results})
	if err != nil {
		return err
	}
	if err := s.opts.Txns.StoreFederationTxnResponse(ctx, origin, txnID, resp); err != nil {
		return err
	}
	matrixhttp.WriteRawJSON(w, http.StatusOK, resp)
	return nil
}

// pduErrorMessage is what a PDU's result says: why the PDU layer dropped,
// rejected or soft-failed it, a Matrix error's message, and a generic one
// for anything else (no internals).
func pduErrorMessage(err error) string {
	var me *core.Error
	if errors.As(err, &me) {
		return me.Error()
	}
	for _, known := range []error{room.ErrPDUInvalid, room.ErrPDUSignature, room.ErrPDURejected, room.ErrPDUSoftFailed} {
		if errors.Is(err, known) {
			return err.Error()
		}
	}
	return "the event could not be processed"
}
