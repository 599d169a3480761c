#!/usr/bin/env bash
# Cross-compiles the portable core (components/smarthome_core) for RISC-V rv32imc, the ISA of the
# ESP32-C3, with Debian's bare-metal GCC and picolibc, and prints text, data and bss per object
# and in total.
#
# What the figure includes: the core's own objects at -Os, compiled but not linked.
# What it excludes: cJSON (ESP-IDF's json component), libc, the ports and ESP-IDF itself. The
# core is compiled against the host's cJSON.h for declarations only, because Debian ships no
# cJSON source to cross-compile. Linker garbage collection would drop unused functions, so a
# linked image contains at most these figures for the core.
set -euo pipefail

FIRMWARE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${FIRMWARE_DIR}/build/size-rv32imc"
CC=riscv64-unknown-elf-gcc
SIZE=riscv64-unknown-elf-size
PACKAGES=(gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf libcjson-dev)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg -s "${package}" >/dev/null 2>&1; then
        missing+=("${package}")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "size.sh: installing ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    ${sudo} apt-get update
    DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y --no-install-recommends "${missing[@]}"
fi

CJSON_INCLUDE=/usr/include/cjson
if [ ! -f "${CJSON_INCLUDE}/cJSON.h" ]; then
    echo "size.sh: ${CJSON_INCLUDE}/cJSON.h not found; install libcjson-dev" >&2
    exit 1
fi

rm -rf "${OUT_DIR}"
mkdir -p "${OUT_DIR}"
CFLAGS=(
    -march=rv32imc -mabi=ilp32 --specs=picolibc.specs
    -std=c11 -Os -ffunction-sections -fdata-sections
    -Wall -Wextra -Werror
    -I"${FIRMWARE_DIR}/components/smarthome_core/include"
    -I"${FIRMWARE_DIR}/components/smarthome_core/src"
    -I"${CJSON_INCLUDE}"
)

objects=()
for source in "${FIRMWARE_DIR}"/components/smarthome_core/src/*.c; do
    object="${OUT_DIR}/$(basename "${source%.c}").o"
    "${CC}" "${CFLAGS[@]}" -c "${source}" -o "${object}"
    objects+=("${object}")
done

echo "size.sh: $(${CC} --version | head -n 1), -march=rv32imc -mabi=ilp32 -Os, picolibc headers"
echo "size.sh: portable core only; cJSON, libc, ports and ESP-IDF are not included"
(cd "${OUT_DIR}" && "${SIZE}" --format=berkeley --totals ./*.o)
"${SIZE}" --format=berkeley --totals "${objects[@]}" | awk 'END { printf "total text=%d data=%d bss=%d\n", $1, $2, $3 }'
