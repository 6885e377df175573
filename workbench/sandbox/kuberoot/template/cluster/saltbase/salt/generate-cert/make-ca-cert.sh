#!/bin/bash
# make-ca-cert.sh CERT_IP [EXTRA_SANS]: the cluster CA, the API server's serving certificate
# (SANs: CERT_IP and EXTRA_SANS, "IP:a,DNS:b") and a client certificate for kubectl, into
# CERT_DIR (/srv/kubernetes). kube-up's script drove easy-rsa; this one drives openssl.
# The CA key is not kept, as kube-up did not keep it: the files are made once.
set -o errexit
set -o nounset
set -o pipefail

cert_ip=$1
extra_sans=${2:-}
cert_dir=${CERT_DIR:-/srv/kubernetes}
cert_group=${CERT_GROUP:-kube-cert}
days=3650

sans="IP:${cert_ip}"
if [[ -n "${extra_sans}" ]]; then
  sans="${sans},${extra_sans}"
fi

tmpdir=$(mktemp -d -t kubernetes_cacert.XXXXXX)
trap 'rm -rf "${tmpdir}"' EXIT
cd "${tmpdir}"

openssl req -x509 -newkey rsa:2048 -nodes -days "${days}" -sha256 \
  -subj "/CN=${cert_ip}@$(date +%s)" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=kubernetes-master" \
  -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' \
  "${sans}" > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "${days}" -sha256 \
  -extfile server.ext -out server.cert 2>/dev/null
openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=kubecfg" \
  -keyout kubecfg.key -out kubecfg.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > kubecfg.ext
openssl x509 -req -in kubecfg.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days "${days}" -sha256 \
  -extfile kubecfg.ext -out kubecfg.crt 2>/dev/null

mkdir -p "${cert_dir}"
install -m 644 ca.crt server.cert kubecfg.crt "${cert_dir}/"
install -m 660 server.key kubecfg.key "${cert_dir}/"
chgrp "${cert_group}" "${cert_dir}/server.key" "${cert_dir}/server.cert" "${cert_dir}/ca.crt" \
  "${cert_dir}/kubecfg.key" "${cert_dir}/kubecfg.crt"
