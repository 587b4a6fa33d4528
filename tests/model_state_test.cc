#include "safeckpt/model_state.h"

#include <gtest/gtest.h>

#include <vector>

#include "support/test_support.h"

namespace safeckpt {
namespace {

// EXPECT_ERROR reads `.status()`, which a bare Status lacks.
struct Added {
  Status value;
  Status status() const { return value; }
};

ExpectedTensor Tensor(std::string name, DType dtype, Shape shape) {
  ExpectedTensor tensor;
  tensor.name = std::move(name);
  tensor.dtype = dtype;
  tensor.shape = std::move(shape);
  return tensor;
}

TEST(ModelStateTest, RoleNames) {
  EXPECT_EQ(TensorRoleName(TensorRole::kParameter), "parameter");
  EXPECT_EQ(TensorRoleName(TensorRole::kBuffer), "buffer");
  EXPECT_EQ(TensorRoleName(TensorRole::kBookkeeping), "bookkeeping");
}

TEST(ModelStateTest, AddKeepsOrderAndFindsByName) {
  ModelState model;
  ASSERT_TRUE(model.Add(Tensor("b", DType::kF32, {2})).ok());
  ASSERT_TRUE(model.Add(Tensor("a", DType::kBF16, {3, 4})).ok());

  ASSERT_EQ(model.size(), 2u);
  EXPECT_EQ(model.tensors()[0].name, "b");
  EXPECT_EQ(model.tensors()[1].name, "a");
  const ExpectedTensor* found = model.Find("a");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->shape, (Shape{3, 4}));
  EXPECT_EQ(model.Find("c"), nullptr);
}

TEST(ModelStateTest, MutableFindChangesTensor) {
  ModelState model;
  ASSERT_TRUE(model.Add(Tensor("a", DType::kF32, {2})).ok());
  ExpectedTensor* found = model.Find("a");
  ASSERT_NE(found, nullptr);
  found->role = TensorRole::kBuffer;
  EXPECT_EQ(model.tensors()[0].role, TensorRole::kBuffer);
}

TEST(ModelStateTest, RejectsDuplicateName) {
  ModelState model;
  ASSERT_TRUE(model.Add(Tensor("a", DType::kF32, {2})).ok());
  EXPECT_ERROR(Added{model.Add(Tensor("a", DType::kF16, {2}))}, ErrorId::kManifestInvalid,
               "tensor 'a' is listed twice");
  EXPECT_EQ(model.size(), 1u);
}

TEST(ModelStateTest, RejectsEmptyName) {
  ModelState model;
  EXPECT_ERROR(Added{model.Add(Tensor("", DType::kF32, {2}))}, ErrorId::kManifestInvalid,
               "tensor name is empty");
}

TEST(ModelStateTest, RejectsShapeWithoutWholeByteSize) {
  ModelState model;
  EXPECT_ERROR(Added{model.Add(Tensor("packed", DType::kF4, {3}))}, ErrorId::kManifestInvalid,
               "tensor 'packed': F4 [3]");
  EXPECT_ERROR(Added{model.Add(Tensor("huge", DType::kF64, {1ull << 62, 4}))}, ErrorId::kManifestInvalid,
               "tensor 'huge'");
}

TEST(ModelStateTest, AcceptsDestinationOfExactSize) {
  ModelState model;
  std::vector<float> memory(6);
  ExpectedTensor tensor = Tensor("w", DType::kF32, {2, 3});
  tensor.data = memory.data();
  tensor.data_bytes = 24;
  EXPECT_TRUE(model.Add(tensor).ok());
}

TEST(ModelStateTest, RejectsDestinationOfWrongSize) {
  ModelState model;
  std::vector<float> memory(6);
  ExpectedTensor tensor = Tensor("w", DType::kF32, {2, 3});
  tensor.data = memory.data();
  tensor.data_bytes = 20;
  EXPECT_ERROR(Added{model.Add(tensor)}, ErrorId::kDestinationInvalid,
               "tensor 'w': destination is 20 bytes but F32 [2, 3] needs 24 bytes");
}

TEST(ModelStateTest, IgnoresSizeWithoutDestination) {
  ModelState model;
  ExpectedTensor tensor = Tensor("w", DType::kF32, {2, 3});
  tensor.data_bytes = 5;
  EXPECT_TRUE(model.Add(tensor).ok());
}

}  // namespace
}  // namespace safeckpt
