"""examples/kubernetes: every manifest parses, the objects refer to each other correctly,
and the ConfigMap's got-router YAML passes `got-router -t`."""

import os
import re
import unittest
from pathlib import Path

import yaml

from deploylib import KUBERNETES, SCRIPTS, TempDir, check_config, load_yaml_documents, make_cert, parse_duration_s

REQUIRED_KINDS = {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler"}


def manifests():
    files = sorted(KUBERNETES.glob("*.yaml")) + sorted(KUBERNETES.glob("*.yml"))
    docs = []
    for f in files:
        for d in load_yaml_documents(f):
            docs.append((f.name, d))
    return docs


def by_kind(docs):
    out = {}
    for _, d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def configmap_config(objects):
    cm = [c for c in objects["ConfigMap"] if c["metadata"]["name"] == "got-router"][0]
    return cm, cm["data"]["got-router.yaml"]


def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


class Manifests(unittest.TestCase):
    def test_manifests(self):
        docs = manifests()
        self.assertTrue(docs, f"no manifests in {KUBERNETES}")
        for name, d in docs:
            self.assertIsInstance(d, dict, name)
            for key in ("apiVersion", "kind"):
                self.assertTrue(d.get(key), f"{name}: a document has no {key}")
            self.assertTrue((d.get("metadata") or {}).get("name"), f"{name}: {d.get('kind')} has no metadata.name")
        objects = by_kind(docs)
        self.assertLessEqual(REQUIRED_KINDS, set(objects), f"missing kinds: {REQUIRED_KINDS - set(objects)}")
        names = [(d["kind"], d["metadata"]["name"]) for _, d in docs]
        self.assertEqual(len(names), len(set(names)), "two objects with the same kind and name")

        dep = objects["Deployment"][0]
        spec = dep["spec"]
        pod = spec["template"]["spec"]
        pod_labels = spec["template"]["metadata"]["labels"]
        self.assertEqual(spec["replicas"], 2)
        self.assertTrue(matches(spec["selector"]["matchLabels"], pod_labels))
        container = [c for c in pod["containers"] if c["name"] == "got-router"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}

        # The config the pod runs: the ConfigMap, mounted as a directory (so updates reach
        # it), named by -c.
        cm, text = configmap_config(objects)
        config = yaml.safe_load(text)
        mounts = {m["name"]: m for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        config_volume = [v for v in pod["volumes"] if v.get("configMap", {}).get("name") == cm["metadata"]["name"]][0]
        config_mount = mounts[config_volume["name"]]
        self.assertNotIn("subPath", config_mount, "a subPath mount never sees ConfigMap updates (no hot reload)")
        args = container["args"]
        self.assertEqual(args[args.index("-c") + 1], f"{config_mount['mountPath']}/got-router.yaml")

        # Probes on the admin port the config opens.
        admin_port = int(config["admin"]["address"].rsplit(":", 1)[1])
        self.assertFalse(config["admin"]["address"].startswith("127."), "the kubelet probes the pod IP, not loopback")
        self.assertEqual(ports["admin"], admin_port)
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = container[probe]["httpGet"]
            self.assertEqual(get["path"], path)
            self.assertIn(get["port"], ("admin", admin_port))

        # The data port: listener = containerPort = the Service's targetPort; Service on 70.
        listen_port = int(config["listeners"][0]["address"].rsplit(":", 1)[1])
        self.assertEqual(ports["gopher"], listen_port)
        svc = objects["Service"][0]
        self.assertEqual(svc["spec"]["type"], "LoadBalancer")
        self.assertTrue(matches(svc["spec"]["selector"], pod_labels))
        svc_port = [p for p in svc["spec"]["ports"] if p["port"] == 70]
        self.assertTrue(svc_port, "the Service publishes port 70")
        self.assertIn(svc_port[0]["targetPort"], ("gopher", listen_port))

        # Graceful termination longer than the drain (plus the preStop pause).
        grace = parse_duration_s(config["timeouts"]["shutdown_grace"])
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
        pause = float(pre_stop[-1]) if pre_stop and pre_stop[0] == "sleep" else 0
        self.assertGreater(pod["terminationGracePeriodSeconds"], grace + pause)

        # Files the config names come from the mounted volumes, and the Secrets have the keys.
        secrets = {s["metadata"]["name"]: s for s in objects["Secret"]}
        files = [c[k] for c in config["certificates"] for k in ("cert", "key")]
        if config.get("tls", {}).get("ticket_keys"):
            files.append(config["tls"]["ticket_keys"])
        for path in files:
            self.assertTrue(self.file_from_volumes(path, mounts, volumes, secrets), f"{path} comes from no mounted volume")

        # Restricted pod security: non-root (the image's uid), no escalation, no capabilities
        # beyond the one the binary's file capability needs in the bounding set.
        uid = int(re.search(r"^uid=(\d+)", (SCRIPTS / "docker-runtime.sh").read_text(), re.M)[1])
        psc, csc = pod["securityContext"], container["securityContext"]
        self.assertTrue(psc["runAsNonRoot"])
        self.assertEqual(psc["runAsUser"], uid)
        self.assertEqual(psc["seccompProfile"]["type"], "RuntimeDefault")
        self.assertIs(csc["allowPrivilegeEscalation"], False)
        self.assertEqual(csc["capabilities"]["drop"], ["ALL"])
        self.assertLessEqual(set(csc["capabilities"].get("add", [])), {"NET_BIND_SERVICE"})
        self.assertIn("cpu", container["resources"]["requests"], "the HPA on CPU needs a CPU request")

        pdb = objects["PodDisruptionBudget"][0]
        self.assertTrue(matches(pdb["spec"]["selector"]["matchLabels"], pod_labels))
        self.assertLess(pdb["spec"].get("minAvailable", 0), spec["replicas"], "the PDB must allow a drain")

        hpa = objects["HorizontalPodAutoscaler"][0]
        target = hpa["spec"]["scaleTargetRef"]
        self.assertEqual((target["kind"], target["name"]), ("Deployment", dep["metadata"]["name"]))
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 2)
        self.assertTrue([m for m in hpa["spec"]["metrics"] if m["type"] == "Resource" and m["resource"]["name"] == "cpu"])

    def file_from_volumes(self, path, mounts, volumes, secrets):
        for name, mount in mounts.items():
            prefix = mount["mountPath"].rstrip("/") + "/"
            if not path.startswith(prefix):
                continue
            rel = path[len(prefix):]
            volume = volumes[name]
            sources = []
            if "secret" in volume:
                sources = [{"secret": {"name": volume["secret"]["secretName"], "items": volume["secret"].get("items")}}]
            elif "projected" in volume:
                sources = volume["projected"]["sources"]
            for source in sources:
                secret = source.get("secret")
                if not secret:
                    continue
                data = secrets[secret["name"]]
                keys = set(data.get("data", {})) | set(data.get("stringData", {}))
                items = secret.get("items")
                if items:
                    for item in items:
                        if item["path"] == rel:
                            self.assertIn(item["key"], keys, f"Secret {secret['name']} has no {item['key']}")
                            return True
                elif rel in keys:
                    return True
        return False


class ConfigMapConfig(unittest.TestCase):
    def test_configmap_passes_check(self):
        """The ConfigMap's YAML through `got-router -t`, with the files it names made at run
        time (certificates for the names its routes serve, a ticket key) and backend names,
        which resolve only inside the cluster, pointed at loopback."""
        objects = by_kind(manifests())
        _, text = configmap_config(objects)
        config = yaml.safe_load(text)
        with TempDir() as tmp:
            root = tmp / "etc"
            text = text.replace("/etc/got-router/", f"{root}/")
            names = {}
            for route in config["routes"]:
                for backend in route["backends"]:
                    text = text.replace(f'"{backend}"', f'"127.0.0.1:{backend.rsplit(":", 1)[1]}"')
            # Certificates: the SNI names of the routes, split across the configured files
            # (a wildcard in the file name marks the wildcard certificate).
            all_sni = [n for r in config["routes"] for n in r.get("sni", [])]
            for cert in config["certificates"]:
                stem = Path(cert["cert"]).name
                wanted = [n for n in all_sni if (n.startswith("*.") and stem.startswith("wild."))
                          or (not n.startswith("*.") and not stem.startswith("wild."))]
                names[cert["cert"]] = wanted or ["default.test"]
            for cert in config["certificates"]:
                target = Path(cert["cert"].replace("/etc/got-router/", f"{root}/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                pem, key = make_cert(target.parent, "tmp", names[cert["cert"]])
                pem.rename(target)
                key.rename(Path(cert["key"].replace("/etc/got-router/", f"{root}/")))
            tickets = config.get("tls", {}).get("ticket_keys")
            if tickets:
                path = Path(tickets.replace("/etc/got-router/", f"{root}/"))
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(os.urandom(80))
            self.assertNotIn("/etc/got-router", text)
            path = tmp / "got-router.yaml"
            path.write_text(text)
            result = check_config(path)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn("configuration OK", result.stdout)


if __name__ == "__main__":
    unittest.main()
