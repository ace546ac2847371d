package postgres

import (
	"testing"

	"github.com/segmentd/segmentd/storetest"
)

func TestExportContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.RunExports(t, func(t *testing.T) storetest.ExportsStore { return openFresh(t, srv) })
	})
}

func TestExportTakeoverContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.RunExportTakeover(t, func(t *testing.T) storetest.ExportTakerStore { return openFresh(t, srv) })
	})
}
