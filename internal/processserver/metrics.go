package processserver

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	received  prometheus.Counter
	uploaded  prometheus.Counter
	connected prometheus.Gauge
	refused   *prometheus.CounterVec
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.received = prometheus.NewCounter(prometheus.CounterOpts{Name: "osr_ps_received_bytes_total", Help: "Frame bytes received from agents and cached."})
	m.uploaded = prometheus.NewCounter(prometheus.CounterOpts{Name: "osr_ps_uploaded_bytes_total", Help: "Block bytes written into the replica store."})
	m.connected = prometheus.NewGauge(prometheus.GaugeOpts{Name: "osr_ps_connected_agents", Help: "Agents connected now."})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "osr_ps_refused_total", Help: "Connections or frames refused, by reason."}, []string{"reason"})
	m.reg.MustRegister(m.received, m.uploaded, m.connected, m.refused,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "osr_ps_cache_free_percent", Help: "Free share of the disk cache."},
			func() float64 { p, _ := s.cache.freePercent(); return p }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "osr_ps_upload_backlog_bytes", Help: "Cached bytes waiting for upload."},
			func() float64 { return float64(s.backlogBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "osr_ps_reading", Help: "1 while the server reads from agents, 0 while it holds them back."},
			func() float64 {
				if r, _ := s.gate.state(); r != "" {
					return 0
				}
				return 1
			}),
		&machineCollector{s: s},
	)
	return m
}

var (
	descMachineIn  = prometheus.NewDesc("osr_ps_machine_received_bytes_total", "Bytes received from a machine.", []string{"machine"}, nil)
	descMachineUp  = prometheus.NewDesc("osr_ps_machine_uploaded_bytes_total", "Block bytes of a machine written to the store.", []string{"machine"}, nil)
	descMachineLag = prometheus.NewDesc("osr_ps_machine_backlog_bytes", "Cached bytes of a machine waiting for upload.", []string{"machine"}, nil)
)

// machineCollector reports per-machine counters.
type machineCollector struct{ s *Server }

func (c *machineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descMachineIn
	ch <- descMachineUp
	ch <- descMachineLag
}

func (c *machineCollector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.s.machineList() {
		ch <- prometheus.MustNewConstMetric(descMachineIn, prometheus.CounterValue, float64(m.bytesIn.Load()), m.name)
		ch <- prometheus.MustNewConstMetric(descMachineUp, prometheus.CounterValue, float64(m.bytesUp.Load()), m.name)
		ch <- prometheus.MustNewConstMetric(descMachineLag, prometheus.GaugeValue, float64(m.backlog()), m.name)
	}
}
