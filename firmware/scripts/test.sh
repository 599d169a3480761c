#!/usr/bin/env bash
# Builds the firmware host targets, runs the unit tests with ctest, then a bounded libFuzzer run
# of every parser of cloud input. Installs the Debian packages it needs when they are missing.
#
# Environment:
#   SH_FUZZ_SECONDS  seconds per fuzz target (default 20; 0 skips fuzzing)
#   SH_JOBS          parallel build and test jobs (default 2)
set -euo pipefail

FIRMWARE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${FIRMWARE_DIR}/build"
FUZZ_BUILD_DIR="${BUILD_DIR}/fuzz"
FUZZ_SECONDS="${SH_FUZZ_SECONDS:-20}"
JOBS="${SH_JOBS:-2}"

PACKAGES=(
    build-essential cmake pkg-config
    libcjson-dev libmbedtls-dev libmosquitto-dev libcurl4-openssl-dev libcmocka-dev openssl
    clang libclang-rt-14-dev
)

install_missing_packages() {
    local missing=()
    for package in "${PACKAGES[@]}"; do
        if ! dpkg -s "${package}" >/dev/null 2>&1; then
            missing+=("${package}")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        return
    fi
    echo "test.sh: installing ${missing[*]}"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    ${sudo} apt-get update
    DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y --no-install-recommends "${missing[@]}"
}

install_missing_packages

echo "test.sh: building host targets in ${BUILD_DIR}"
cmake -S "${FIRMWARE_DIR}/host" -B "${BUILD_DIR}" -DCMAKE_BUILD_TYPE=Debug
cmake --build "${BUILD_DIR}" -j "${JOBS}"

echo "test.sh: running unit tests"
(cd "${BUILD_DIR}" && ctest -j "${JOBS}" --output-on-failure)

if [ "${FUZZ_SECONDS}" = "0" ]; then
    echo "test.sh: SH_FUZZ_SECONDS=0, skipping the fuzz run"
    exit 0
fi

echo "test.sh: building fuzz targets with clang in ${FUZZ_BUILD_DIR}"
CC=clang cmake -S "${FIRMWARE_DIR}/host" -B "${FUZZ_BUILD_DIR}" -DSH_BUILD_FUZZERS=ON -DCMAKE_BUILD_TYPE=Debug
cmake --build "${FUZZ_BUILD_DIR}" -j "${JOBS}"

CONTRACT_DIR="${FIRMWARE_DIR}/../contract/examples"
# Seeds: the contract examples of the message a target parses, plus a few reply shapes.
seed_corpus() {
    local target="$1" corpus="$2"
    mkdir -p "${corpus}"
    case "${target}" in
        relay_command) cp "${CONTRACT_DIR}"/relay-command/*/*.json "${corpus}/" ;;
        reset) cp "${CONTRACT_DIR}"/reset/*/*.json "${corpus}/" ;;
        ota_job) cp "${CONTRACT_DIR}"/ota-job/*/*.json "${corpus}/" ;;
        jobs_execution)
            printf '{"timestamp":1,"execution":{"jobId":"job-1","status":"QUEUED","jobDocument":%s}}' \
                "$(tr -d '\n' < "${CONTRACT_DIR}/ota-job/valid/signed-image.json")" > "${corpus}/notify-next.json"
            printf '{"timestamp":1}' > "${corpus}/no-job.json" ;;
        jobs_error) printf '{"code":"InvalidStateTransition","message":"terminal","timestamp":1}' > "${corpus}/rejected.json" ;;
        certificate_reply)
            printf '{"certificateId":"abc","certificatePem":"-----BEGIN CERTIFICATE-----\\nMIIB\\n","certificateOwnershipToken":"t"}' > "${corpus}/csr.json"
            printf '{"certificateId":"abc","certificatePem":"-----BEGIN CERTIFICATE-----\\n","privateKey":"-----BEGIN RSA PRIVATE KEY-----\\n","certificateOwnershipToken":"t"}!' > "${corpus}/keys.json" ;;
        register_reply) printf '{"deviceConfiguration":{},"thingName":"sh-SERIAL-1"}' > "${corpus}/accepted.json" ;;
        provisioning_error) printf '{"statusCode":429,"errorCode":"ThrottlingException","errorMessage":"Rate exceeded"}' > "${corpus}/rejected.json" ;;
    esac
}

TARGETS=(relay_command reset ota_job jobs_execution jobs_error certificate_reply register_reply provisioning_error)
for target in "${TARGETS[@]}"; do
    corpus="${FUZZ_BUILD_DIR}/corpus/${target}"
    rm -rf "${corpus}"
    seed_corpus "${target}" "${corpus}"
    echo "test.sh: fuzzing ${target} for ${FUZZ_SECONDS} s"
    log="${FUZZ_BUILD_DIR}/fuzz-${target}.log"
    status=0
    "${FUZZ_BUILD_DIR}/fuzz_${target}" -max_total_time="${FUZZ_SECONDS}" -max_len=16384 -timeout=10 \
        -rss_limit_mb=1024 -artifact_prefix="${FUZZ_BUILD_DIR}/crash-${target}-" "${corpus}" > "${log}" 2>&1 || status=$?
    grep -E "Done [0-9]+ runs|ERROR|SUMMARY" "${log}" || true
    if [ "${status}" -ne 0 ]; then
        echo "test.sh: fuzz target ${target} failed (exit ${status}); see ${log} and ${FUZZ_BUILD_DIR}/crash-${target}-*"
        exit 1
    fi
done
echo "test.sh: all unit tests and ${#TARGETS[@]} fuzz targets passed"
