package postgres

import (
	"testing"

	"github.com/segmentd/segmentd/storetest"
)

func TestImportContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.RunImports(t, func(t *testing.T) storetest.ImportsStore { return openFresh(t, srv) })
	})
}
