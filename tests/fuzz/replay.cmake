# fuzz-smoke: the fuzz harnesses built with a plain replay driver and run
# over the committed corpus, so every build compiles and exercises them.
# Included from tests/unit/CMakeLists.txt and tests/fuzz/CMakeLists.txt.
if(TARGET fuzz_stun_replay)
  return()
endif()
set(NATBED_FUZZ_DIR ${PROJECT_SOURCE_DIR}/tests/fuzz)

add_executable(fuzz_stun_replay ${NATBED_FUZZ_DIR}/fuzz_stun.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_stun_replay PRIVATE natbed)
add_test(NAME fuzz-smoke.stun COMMAND fuzz_stun_replay ${NATBED_FUZZ_DIR}/corpus/stun)
set_tests_properties(fuzz-smoke.stun PROPERTIES LABELS fuzz-smoke TIMEOUT 60)

add_executable(fuzz_stund_replay ${NATBED_FUZZ_DIR}/fuzz_stund.c ${NATBED_FUZZ_DIR}/replay.c
               ${PROJECT_SOURCE_DIR}/agents/stund_serve.c)
target_link_libraries(fuzz_stund_replay PRIVATE natbed_stuntools)
add_test(NAME fuzz-smoke.stund COMMAND fuzz_stund_replay ${NATBED_FUZZ_DIR}/corpus/stund)
set_tests_properties(fuzz-smoke.stund PROPERTIES LABELS fuzz-smoke TIMEOUT 60)

add_executable(fuzz_gatemsg_replay ${NATBED_FUZZ_DIR}/fuzz_gatemsg.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_gatemsg_replay PRIVATE natbed)
add_test(NAME fuzz-smoke.gatemsg COMMAND fuzz_gatemsg_replay ${NATBED_FUZZ_DIR}/corpus/gatemsg)
set_tests_properties(fuzz-smoke.gatemsg PROPERTIES LABELS fuzz-smoke TIMEOUT 60)

add_executable(fuzz_peermsg_replay ${NATBED_FUZZ_DIR}/fuzz_peermsg.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_peermsg_replay PRIVATE natbed_trav)
add_test(NAME fuzz-smoke.peermsg COMMAND fuzz_peermsg_replay ${NATBED_FUZZ_DIR}/corpus/peermsg)
set_tests_properties(fuzz-smoke.peermsg PROPERTIES LABELS fuzz-smoke TIMEOUT 60)
add_executable(fuzz_rdv_replay ${NATBED_FUZZ_DIR}/fuzz_rdv.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_rdv_replay PRIVATE natbed_trav)
add_test(NAME fuzz-smoke.rdv COMMAND fuzz_rdv_replay ${NATBED_FUZZ_DIR}/corpus/rdv)
set_tests_properties(fuzz-smoke.rdv PROPERTIES LABELS fuzz-smoke TIMEOUT 60)
add_executable(fuzz_clients_replay ${NATBED_FUZZ_DIR}/fuzz_clients.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_clients_replay PRIVATE natbed_trav)
add_test(NAME fuzz-smoke.clients COMMAND fuzz_clients_replay ${NATBED_FUZZ_DIR}/corpus/clients)
set_tests_properties(fuzz-smoke.clients PROPERTIES LABELS fuzz-smoke TIMEOUT 60)

# The packet harnesses share fuzz_pkt.c (input reader, frame repair, an L4
# checksum check of their own).
add_executable(fuzz_nat_replay ${NATBED_FUZZ_DIR}/fuzz_nat.c ${NATBED_FUZZ_DIR}/fuzz_pkt.c
               ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_nat_replay PRIVATE natbed_emu)
add_test(NAME fuzz-smoke.nat COMMAND fuzz_nat_replay ${NATBED_FUZZ_DIR}/corpus/nat)
set_tests_properties(fuzz-smoke.nat PROPERTIES LABELS fuzz-smoke TIMEOUT 60)

add_executable(fuzz_firewall_replay ${NATBED_FUZZ_DIR}/fuzz_firewall.c
               ${NATBED_FUZZ_DIR}/fuzz_pkt.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_firewall_replay PRIVATE natbed_emu)
add_test(NAME fuzz-smoke.firewall COMMAND fuzz_firewall_replay ${NATBED_FUZZ_DIR}/corpus/firewall)
set_tests_properties(fuzz-smoke.firewall PROPERTIES LABELS fuzz-smoke TIMEOUT 60)

add_executable(fuzz_gate_replay ${NATBED_FUZZ_DIR}/fuzz_gate.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_gate_replay PRIVATE natbed_emu)
add_test(NAME fuzz-smoke.gate COMMAND fuzz_gate_replay ${NATBED_FUZZ_DIR}/corpus/gate)
set_tests_properties(fuzz-smoke.gate PROPERTIES LABELS fuzz-smoke TIMEOUT 60)

add_executable(fuzz_pcp_replay ${NATBED_FUZZ_DIR}/fuzz_pcp.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_pcp_replay PRIVATE natbed_emu)
add_test(NAME fuzz-smoke.pcp COMMAND fuzz_pcp_replay ${NATBED_FUZZ_DIR}/corpus/pcp)
set_tests_properties(fuzz-smoke.pcp PROPERTIES LABELS fuzz-smoke TIMEOUT 60)

add_executable(fuzz_topo_replay ${NATBED_FUZZ_DIR}/fuzz_topo.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_topo_replay PRIVATE natbed)
add_test(NAME fuzz-smoke.topo COMMAND fuzz_topo_replay ${NATBED_FUZZ_DIR}/corpus/topo)
set_tests_properties(fuzz-smoke.topo PROPERTIES LABELS fuzz-smoke TIMEOUT 60)

add_executable(fuzz_link_replay ${NATBED_FUZZ_DIR}/fuzz_link.c ${NATBED_FUZZ_DIR}/replay.c)
target_link_libraries(fuzz_link_replay PRIVATE natbed)
add_test(NAME fuzz-smoke.link COMMAND fuzz_link_replay ${NATBED_FUZZ_DIR}/corpus/link)
set_tests_properties(fuzz-smoke.link PROPERTIES LABELS fuzz-smoke TIMEOUT 60)
