// Command etcd is the upstream etcd server entry point (etcdmain), built from
// go.etcd.io/etcd/server/v3 so envtest can run without downloading binaries.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
