#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <vector>

#include "net/ConnectionGate.h"

namespace parley::net {
namespace {

sockaddr_storage ipv4(const char* address, std::uint16_t port) {
  sockaddr_storage s{};
  auto& in = reinterpret_cast<sockaddr_in&>(s);
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  inet_pton(AF_INET, address, &in.sin_addr);
  return s;
}

TEST(ConnectionGate, CountsEveryConnectionAndRefusesPastTheBound) {
  ConnectionGate gate(2, 0);
  Admission a = 1, b = 1, c = 1;
  EXPECT_EQ(gate.admit(ipv4("10.0.0.1", 1), a), ConnectionGate::Verdict::Admitted);
  EXPECT_EQ(gate.admit(ipv4("10.0.0.2", 1), b), ConnectionGate::Verdict::Admitted);
  EXPECT_EQ(a, 0u);  // addresses are not counted: nothing to remember
  EXPECT_EQ(gate.admit(ipv4("10.0.0.3", 1), c), ConnectionGate::Verdict::ServerFull);
  EXPECT_EQ(gate.open(), 2u);
  gate.release(a);
  EXPECT_EQ(gate.admit(ipv4("10.0.0.3", 1), c), ConnectionGate::Verdict::Admitted);
}

TEST(ConnectionGate, BoundsOneAddressWhateverItsPortsAndGivesPlacesBack) {
  ConnectionGate gate(100, 2);
  std::vector<Admission> held(2);
  EXPECT_EQ(gate.admit(ipv4("10.0.0.1", 1000), held[0]), ConnectionGate::Verdict::Admitted);
  EXPECT_EQ(gate.admit(ipv4("10.0.0.1", 1001), held[1]), ConnectionGate::Verdict::Admitted);
  EXPECT_NE(held[0], held[1]);
  Admission refused = 0, other = 0;
  EXPECT_EQ(gate.admit(ipv4("10.0.0.1", 1002), refused), ConnectionGate::Verdict::AddressFull);
  EXPECT_EQ(gate.admit(ipv4("10.0.0.2", 1000), other), ConnectionGate::Verdict::Admitted);
  EXPECT_EQ(gate.open(), 3u);  // the refused one holds no place
  gate.release(held[0]);
  Admission again = 0;
  EXPECT_EQ(gate.admit(ipv4("10.0.0.1", 1003), again), ConnectionGate::Verdict::Admitted);
  EXPECT_EQ(again, held[0]);  // its slot is reused
  gate.release(again);
  gate.release(held[1]);
  gate.release(other);
  EXPECT_EQ(gate.open(), 0u);
  // Everything given back: the address starts from zero again.
  for (auto& h : held)
    EXPECT_EQ(gate.admit(ipv4("10.0.0.1", 1), h), ConnectionGate::Verdict::Admitted);
}

}  // namespace
}  // namespace parley::net
