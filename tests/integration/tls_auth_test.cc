// The gateway against a mosquitto that wants TLS and a password: a throwaway CA and server
// certificate made with openssl for this test, credentials from a file.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "tests/integration/harness.h"

namespace dctwin::testing {
namespace {

class TlsBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // mosquitto drops to its own user when run as root: let it read the key material.
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                                  std::filesystem::perms::others_exec);
    dir_.Write("san.ext", "subjectAltName=IP:127.0.0.1\n");
    const std::string d = dir_.path();
    int status = 0;
    RunCommand("(cd " + d +
                   " && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj '/CN=dctwin test CA'"
                   " && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj '/CN=127.0.0.1'"
                   " && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2"
                   " -extfile san.ext"
                   " && openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj '/CN=dctwin-gateway'"
                   " && openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2"
                   " && mosquitto_passwd -b -c passwd dctwin 's3cret pass'"
                   " && chmod 644 ca.crt server.crt server.key passwd) > /dev/null 2>&1",
               &status);
    ASSERT_EQ(status, 0) << "making the test CA failed";
  }

  void StartBroker(bool require_client_certificate) {
    const std::string d = dir_.path();
    broker_ = std::make_unique<Mosquitto>(
        dir_, false,
        "cafile " + d + "/ca.crt\ncertfile " + d + "/server.crt\nkeyfile " + d + "/server.key\n" +
            (require_client_certificate ? "require_certificate true\n" : "allow_anonymous false\npassword_file " + d +
                                                                            "/passwd\n"));
    broker_->Start();
  }

  // With a password: the credentials file; without one: the client certificate.
  std::unique_ptr<GatewayProcess> Gateway(const std::string& password) {
    std::string broker = "[broker]\nca_file = \"" + dir_.File("ca.crt") + "\"\nreconnect_max_s = 4\n";
    if (password.empty()) {
      broker += "cert_file = \"" + dir_.File("client.crt") + "\"\nkey_file = \"" + dir_.File("client.key") + "\"\n";
    } else {
      const std::string creds = dir_.Write("credentials", "dctwin\n" + password + "\n");
      chmod(creds.c_str(), 0600);
      broker += "credentials_file = \"" + creds + "\"\n";
    }
    const std::string config = dir_.Write("dctwin.toml", broker + "[metrics]\nlisten = \"\"\n");
    auto gw = std::make_unique<GatewayProcess>(
        dir_, std::vector<std::string>{"--config", config, "--broker", "ssl://127.0.0.1:" + std::to_string(broker_->port()),
                                       "--state", dir_.File("state.db"), "--gateway-id", "gw-tls"});
    gw->Start();
    return gw;
  }

  std::string Subscribe(const std::string& topic, bool with_certificate = false) {
    const std::string auth = with_certificate
                                 ? " --cert " + dir_.File("client.crt") + " --key " + dir_.File("client.key")
                                 : " -u dctwin -P 's3cret pass'";
    return RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(broker_->port()) + " --cafile " +
                      dir_.File("ca.crt") + auth + " -t '" + topic + "' -C 1 -W 10 2>&1");
  }

  TempDir dir_;
  std::unique_ptr<Mosquitto> broker_;
};

TEST_F(TlsBrokerTest, ConnectsOverTlsWithThePasswordFromItsFile) {
  StartBroker(false);
  auto gw = Gateway("s3cret pass");
  const std::string status = Subscribe("dctwin/gateway/gw-tls/status");
  EXPECT_NE(status.find("\"online\":true"), std::string::npos) << status << gw->Log();
  EXPECT_EQ(gw->Terminate(), 0) << gw->Log();
}

TEST_F(TlsBrokerTest, ConnectsWithAClientCertificate) {
  StartBroker(true);
  auto gw = Gateway("");
  const std::string status = Subscribe("dctwin/gateway/gw-tls/status", true);
  EXPECT_NE(status.find("\"online\":true"), std::string::npos) << status << gw->Log();
  EXPECT_EQ(gw->Terminate(), 0) << gw->Log();
}

TEST_F(TlsBrokerTest, AWrongPasswordIsAClearErrorRetriedWithBackoff) {
  StartBroker(false);
  auto gw = Gateway("wrong");
  // Attempts of the main connection (the input connection <id>-in backs off the same way, so its
  // "retrying in 4 s" may come first: the main connection's attempts are counted, not that line).
  auto attempts_in = [](const std::string& log) {
    size_t n = 0;
    for (size_t at = log.find("as gw-tls\n"); at != std::string::npos; at = log.find("as gw-tls\n", at + 1)) ++n;
    return n;
  };
  // Backoff 1, 2, 4, 4 s: three attempts take 3 s, and there are still no more than four.
  ASSERT_TRUE(WaitUntil([&] { return attempts_in(gw->Log()) >= 3; }, 15s)) << gw->Log();
  const std::string log = gw->Log();
  const size_t attempts = attempts_in(log);
  EXPECT_GE(attempts, 3u) << log;
  EXPECT_LE(attempts, 4u) << log;
  EXPECT_NE(log.find("ssl://127.0.0.1"), std::string::npos) << log;
  EXPECT_EQ(gw->Terminate(), 0) << gw->Log();
}

}  // namespace
}  // namespace dctwin::testing
