package configserver

import (
	"errors"
	"net/http"
	"strings"

	"github.com/opensiterecovery/osr/internal/configserver/enroll"
)

// ScaleOutView is the answer of GET /v1/scale-out on the admin socket.
type ScaleOutView struct {
	Settings       ScaleOutSettings `json:"settings"`
	ProcessServers []PSLoad         `json:"process_servers"`
	Machines       []MachineLoad    `json:"machines"`
	Queue          []QueueEntry     `json:"queue"`
	Events         []MoveEvent      `json:"events"`
}

// SwitchRequest is the body of POST /v1/scale-out/switch.
type SwitchRequest struct {
	From     string   `json:"from"`
	To       string   `json:"to"`
	Machines []string `json:"machines,omitempty"` // empty: every machine of From
	Apply    bool     `json:"apply"`              // false: only plan
}

// BalanceRequest is the body of POST /v1/scale-out/balance.
type BalanceRequest struct {
	ProcessServers []string `json:"process_servers,omitempty"` // empty: every one that may take machines
	Apply          bool     `json:"apply"`
}

// MovesAnswer answers a switch or a balance: the plan, and whether it was applied.
type MovesAnswer struct {
	Moves   []Move `json:"moves"`
	Applied bool   `json:"applied"`
}

// scaleOutRoutes serves the scale-out calls on the admin socket (osr process-server switch,
// balance, scale-out).
func (s *Server) scaleOutRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/scale-out", func(w http.ResponseWriter, r *http.Request) {
		pss, ms := s.registry.Loads()
		q, ev := s.registry.Queue(), s.registry.Events()
		if q == nil {
			q = []QueueEntry{}
		}
		if ev == nil {
			ev = []MoveEvent{}
		}
		enroll.WriteJSON(w, http.StatusOK, ScaleOutView{Settings: s.registry.Settings(), ProcessServers: pss, Machines: ms, Queue: q, Events: ev})
	})
	mux.HandleFunc("POST /v1/scale-out/switch", func(w http.ResponseWriter, r *http.Request) {
		var req SwitchRequest
		if err := enroll.DecodeJSON(w, r, &req); err != nil {
			enroll.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		moves, err := s.registry.PlanSwitch(req.From, req.To, req.Machines)
		s.answerMoves(w, moves, err, req.Apply)
	})
	mux.HandleFunc("POST /v1/scale-out/balance", func(w http.ResponseWriter, r *http.Request) {
		var req BalanceRequest
		if err := enroll.DecodeJSON(w, r, &req); err != nil {
			enroll.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		moves, err := s.registry.PlanBalance(req.ProcessServers, false)
		s.answerMoves(w, moves, err, req.Apply)
	})
	mux.HandleFunc("PUT /v1/scale-out/settings", func(w http.ResponseWriter, r *http.Request) {
		var set ScaleOutSettings
		if err := enroll.DecodeJSON(w, r, &set); err != nil {
			enroll.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := set.Check(); err != nil {
			enroll.WriteError(w, http.StatusBadRequest, "scale-out settings: "+err.Error())
			return
		}
		if err := SaveScaleOut(s.cfg.DataDir, set); err != nil {
			enroll.WriteError(w, http.StatusInternalServerError, "save scale-out settings: "+err.Error())
			return
		}
		if err := s.registry.SetSettings(set); err != nil {
			enroll.WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		s.cfg.Logger.Info("scale-out settings changed", "automatic", set.Automatic, "resync_budget_per_process_server", set.ResyncBudgetPerProcessServer,
			"resync_budget_per_site", set.ResyncBudgetPerSite)
		enroll.WriteJSON(w, http.StatusOK, set)
	})
}

func (s *Server) answerMoves(w http.ResponseWriter, moves []Move, err error, apply bool) {
	if err == nil && apply {
		err = s.registry.Reassign(moves, false)
		for _, mv := range moves {
			if err == nil {
				s.cfg.Logger.Info("machine moved to another process server", "machine", mv.Machine, "from", mv.From, "to", mv.To,
					"churn_bytes_per_second", int64(mv.ChurnBytesPerS), "cache_need_bytes", mv.CacheNeedBytes, "reason", mv.Reason)
			}
		}
	}
	switch {
	case errors.Is(err, ErrNoMove):
		enroll.WriteError(w, http.StatusConflict, err.Error())
	case err != nil && strings.HasSuffix(err.Error(), "is not enrolled"):
		enroll.WriteError(w, http.StatusNotFound, err.Error())
	case err != nil:
		enroll.WriteError(w, http.StatusConflict, err.Error())
	default:
		enroll.WriteJSON(w, http.StatusOK, MovesAnswer{Moves: moves, Applied: apply})
	}
}
