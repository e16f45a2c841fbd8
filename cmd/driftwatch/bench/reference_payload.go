package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// ReferencePayload returns the JSON observation every reference message carries: a host's
// observed state with 40 top-level fields, 10 of them nested objects or arrays, padded to
// about size bytes (never below the 3.7 KB of its fixed fields) by growing its package
// list. It is deterministic.
func ReferencePayload(size int) []byte {
	obs := referenceObservation(0)
	raw := mustJSON(obs)
	for n := 1; len(raw) < size; n++ {
		obs = referenceObservation(n)
		next := mustJSON(obs)
		if len(next) > size && size-len(raw) < len(next)-size {
			break // the shorter one is nearer the target
		}
		raw = next
	}
	return raw
}

// mustJSON encodes v, which is built of maps, slices and scalars only.
func mustJSON(v any) []byte {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode reference payload: %v", err))
	}
	return raw
}

// hexOf returns the SHA-256 of s in hex, for realistic hashes.
func hexOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// referenceObservation builds the observation with packages extra packages.
func referenceObservation(packages int) map[string]any {
	pkgs := make([]map[string]any, 0, 8+packages)
	for i := range 8 + packages {
		pkgs = append(pkgs, map[string]any{"name": fmt.Sprintf("lib-package-%03d", i), "version": fmt.Sprintf("1.%d.%d-ubuntu%d", i%17, i%5, i%3), "arch": "amd64"})
	}
	return map[string]any{
		"schema":         "driftwatch.observation/v1",
		"observation_id": "0b8e6c7e-2f4a-4f59-9a51-6d1c2f3e4b5a",
		"ci_id":          "srv-web-0042",
		"ci_kind":        "linux-host",
		"hostname":       "web-0042",
		"fqdn":           "web-0042.par1.example.net",
		"site":           "par1",
		"region":         "eu-west",
		"rack":           "par1-r07",
		"tenant":         "storefront",
		"environment":    "production",
		"role":           "web",
		"os_family":      "debian",
		"os_version":     "12.6",
		"kernel":         "6.1.0-23-amd64",
		"agent_version":  "0.9.3",
		"collected_at":   "2025-03-14T09:26:53.589793238Z",
		"received_at":    "2025-03-14T09:26:53.612000000Z",
		"sequence":       918273,
		"uptime_seconds": 3456789,
		"cpu_count":      8,
		"memory_bytes":   34359738368,
		"disk_bytes":     512110190592,
		"serial":         "CZ2045XK7Q",
		"asset_tag":      "AT-0099412",
		"primary_ip":     "10.20.7.42",
		"primary_mac":    "52:54:00:12:34:56",
		"virtualized":    true,
		"hypervisor":     "kvm",
		"state_hash":     hexOf("web-0042 state"),
		"labels": map[string]any{
			"team": "storefront", "tier": "frontend", "cost_center": "cc-1042", "owner": "web-platform",
			"patch_window": "sun-02:00", "backup": "daily", "monitoring": "enabled", "compliance": "pci",
		},
		"interfaces": []map[string]any{
			{"name": "eth0", "mac": "52:54:00:12:34:56", "mtu": 1500, "state": "up", "addresses": []string{"10.20.7.42/24", "fe80::5054:ff:fe12:3456/64"}},
			{"name": "eth1", "mac": "52:54:00:65:43:21", "mtu": 9000, "state": "up", "addresses": []string{"192.168.100.42/24"}},
			{"name": "lo", "mac": "00:00:00:00:00:00", "mtu": 65536, "state": "up", "addresses": []string{"127.0.0.1/8", "::1/128"}},
		},
		"mounts": []map[string]any{
			{"path": "/", "device": "/dev/vda1", "fs": "ext4", "options": "rw,relatime,errors=remount-ro"},
			{"path": "/boot/efi", "device": "/dev/vda15", "fs": "vfat", "options": "rw,relatime,fmask=0077,dmask=0077"},
			{"path": "/var/lib/docker", "device": "/dev/vdb1", "fs": "xfs", "options": "rw,noatime,attr2,inode64"},
			{"path": "/srv/data", "device": "nfs01:/export/data", "fs": "nfs4", "options": "rw,hard,vers=4.2,timeo=600"},
		},
		"packages": pkgs,
		"services": []map[string]any{
			{"name": "nginx", "enabled": true, "active": "running"},
			{"name": "sshd", "enabled": true, "active": "running"},
			{"name": "chronyd", "enabled": true, "active": "running"},
			{"name": "node-exporter", "enabled": true, "active": "running"},
			{"name": "cups", "enabled": false, "active": "inactive"},
		},
		"sysctl": map[string]any{
			"net.ipv4.ip_forward": "0", "net.ipv4.tcp_syncookies": "1", "net.core.somaxconn": "4096",
			"vm.swappiness": "10", "fs.file-max": "2097152", "kernel.randomize_va_space": "2",
			"net.ipv4.conf.all.rp_filter": "1", "net.ipv6.conf.all.disable_ipv6": "0",
			"vm.overcommit_memory": "1", "kernel.kptr_restrict": "1",
		},
		"users": []map[string]any{
			{"name": "root", "uid": 0, "shell": "/bin/bash"},
			{"name": "deploy", "uid": 1001, "shell": "/bin/bash"},
			{"name": "www-data", "uid": 33, "shell": "/usr/sbin/nologin"},
		},
		"firewall": map[string]any{
			"default_policy": "drop",
			"rules": []map[string]any{
				{"chain": "input", "proto": "tcp", "port": 22, "source": "10.0.0.0/8", "action": "accept"},
				{"chain": "input", "proto": "tcp", "port": 443, "source": "0.0.0.0/0", "action": "accept"},
				{"chain": "input", "proto": "tcp", "port": 9100, "source": "10.20.0.0/16", "action": "accept"},
			},
		},
		"ntp": map[string]any{"servers": []string{"ntp1.example.net", "ntp2.example.net"}, "synced": true, "offset_ms": 0.42},
		"files": []map[string]any{
			{"path": "/etc/nginx/nginx.conf", "sha256": hexOf("nginx.conf"), "mode": "0644", "owner": "root"},
			{"path": "/etc/ssh/sshd_config", "sha256": hexOf("sshd_config"), "mode": "0600", "owner": "root"},
		},
	}
}

// apply applies w to a payload and returns the hop's output payload.
func (w Work) apply(payload []byte) ([]byte, error) {
	if w != WorkDecode {
		return payload, nil
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	return out, nil
}
